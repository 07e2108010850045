/** What every command shares: the project folder, the environment, exit codes, error output. */
import { resolve } from 'node:path';
import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { ERRORS, WarrenError, WarrenErrors, EXIT } from '../errors';
import { readProject, type ProjectRead, type WarrenConfig } from '../config';

export interface CommonOptions {
  dir: string;
}

export function projectDir(options: { dir?: string }): string {
  return resolve(options.dir ?? process.cwd());
}

/**
 * Print a failure a person can act on (no stack trace for Warren's own errors) and pick the exit code
 * from the catalogue (runtime/errors.ts): several problems exit 2 unless every one of them is the world's fault.
 */
export function reportFailure(err: unknown, dir?: string): number {
  if (err instanceof WarrenErrors) {
    process.stderr.write(`warren: ${err.errors.length} problem${err.errors.length === 1 ? '' : 's'}:\n${indent(err.format(dir))}\n`);
    return err.errors.every((e) => ERRORS[e.code].exit === EXIT.RUNTIME) ? EXIT.RUNTIME : EXIT.BAD_INPUT;
  }
  if (err instanceof WarrenError) {
    process.stderr.write(`warren: ${err.format(dir)}\n`);
    return ERRORS[err.code].exit;
  }
  const e = err as Error;
  process.stderr.write(`warren: ${e?.stack ?? String(err)}\n`);
  return EXIT.RUNTIME;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => '  ' + line)
    .join('\n');
}

/** `JSON`, `@file` (JSON read from a file) or, with `text`, a plain string. */
export async function readMessageArgument(arg: string, options: { text?: boolean } = {}): Promise<{ value: unknown; text: string }> {
  let text = arg;
  let file: string | undefined;
  if (arg.startsWith('@')) {
    const path = resolve(arg.slice(1));
    file = path;
    const bytes = await readFile(path).catch(() => {
      throw new WarrenError('WARREN_E_USAGE', `cannot read ${path}`, { hint: 'give @path/to/message.json relative to the current folder' });
    });
    // Read as UTF-8, bytes that are not would each become U+FFFD: the message sent would not be the file.
    if (!isUtf8(bytes))
      throw new WarrenError('WARREN_E_USAGE', `${path} is not UTF-8 text: sent as ${options.text ? 'text' : 'JSON'}, its other bytes would be replaced`, {
        hint: 'nothing was sent; send JSON or UTF-8 text, e.g. the bytes base64-encoded in a JSON field',
      });
    text = bytes.toString('utf8');
  }
  if (options.text) return { value: text, text };
  try {
    return { value: JSON.parse(text), text };
  } catch (err) {
    if (file !== undefined) {
      const at = jsonErrorAt(text, (err as Error).message);
      throw new WarrenError('WARREN_E_USAGE', `${file}${at ? `:${at.line}:${at.column}` : ''} is not valid JSON: ${jsonReason((err as Error).message)}`, {
        hint: 'nothing was sent; fix the file, or send it as plain text with --text',
      });
    }
    throw new WarrenError('WARREN_E_USAGE', `the message is not valid JSON: ${(err as Error).message}`, {
      hint: `quote it for the shell, e.g. '{"userId":"john_doe"}'; read a file with @message.json; send plain text with --text`,
    });
  }
}

/** Where JSON.parse stopped, as line and column (V8 says "at position N"; the end of the text when it ran out). */
function jsonErrorAt(text: string, message: string): { line: number; column: number } | null {
  const position = /at position (\d+)/.exec(message)?.[1];
  const offset = position !== undefined ? Number(position) : /end of JSON input/i.test(message) ? text.length : null;
  if (offset === null) return null;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** V8's reason without the file's text it quotes ("…"{"a": 1,}" is not valid JSON"). */
function jsonReason(message: string): string {
  return message
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/ in JSON at position \d+$/, '')
    .replace(/ at position \d+$/, '');
}

/** A whole number written in decimal digits: `Number` alone read "" as 0 (`scale FN ''` stopped a function) and took 0x2, 0b1 and 1e0. */
export function parseCount(value: string, name: string, min = 1): number {
  const n = /^\s*\+?[0-9]+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    const hint = value.trim() === '' ? { hint: 'it is empty: is a variable such as $N unset?' } : undefined;
    throw new WarrenError('WARREN_E_USAGE', `${name} must be an integer >= ${min} in decimal digits, got "${value}"`, hint);
  }
  return n;
}

/** AMQP writes a name (exchange, routing key, header name) as a short string: at most 255 bytes. */
export function refuseLongName(what: string, name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes > 255) throw new WarrenError('WARREN_E_USAGE', `${what} is ${bytes} bytes long; AMQP allows at most 255`, { hint: 'nothing was sent; shorten it' });
}

/**
 * `--header k=v` options (repeated) as a headers table. `CC` and `BCC` (RabbitMQ's sender-selected
 * distribution) are lists of routing keys, comma-separated: the broker refuses them as a string.
 */
export function parseHeaders(pairs: string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new WarrenError('WARREN_E_USAGE', `--header ${pair}: expected key=value`);
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    refuseLongName(`--header ${key.length > 40 ? `${key.slice(0, 40)}…` : key}: the header name`, key);
    headers[key] = key === 'CC' || key === 'BCC' ? value.split(',').filter(Boolean) : value;
  }
  const bytes = headerTableBytes(headers);
  if (bytes > MAX_HEADER_BYTES) {
    const largest = Object.entries(headers).sort(([, a], [, b]) => String(b).length - String(a).length)[0]![0];
    throw new WarrenError(
      'WARREN_E_USAGE',
      `--header values take ${bytes.toLocaleString('en')} bytes; a message's headers hold at most ${MAX_HEADER_BYTES.toLocaleString('en')}`,
      {
        hint: `nothing was sent; put large data (the largest here is --header ${largest}) in the message body`,
      },
    );
  }
  return headers;
}

/** amqplib encodes a message's header table in a buffer of 64 KiB; the other properties need a little of it. */
export const MAX_HEADER_BYTES = 64 * 1024 - 1024;

/** About what the headers take on the wire: each key, a type byte, a length and the UTF-8 value. */
function headerTableBytes(headers: Record<string, string | string[]>): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(headers)) {
    bytes += 1 + Buffer.byteLength(key) + 1;
    for (const v of Array.isArray(value) ? value : [value]) bytes += 5 + Buffer.byteLength(v);
  }
  return bytes;
}

/** commander's collector for an option given several times. */
export const repeated = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * The connection (and the functions) for `publish` and the dead-letter tools, from a project that may
 * have problems: a half-edited queues.yaml must not lock a person out of the dead letters or the
 * queues of a running runtime. With problems, what could be read is used and a warning says so;
 * `needs(partial)` false (or nothing readable): the problems are thrown, as `loadConfig` does.
 */
export async function readForTools(
  dir: string,
  needs: (partial: NonNullable<ProjectRead['partial']>) => boolean = () => true,
): Promise<Pick<WarrenConfig, 'url' | 'vhost' | 'functions'>> {
  const read = await readProject({ dir, env: process.env });
  if (read.project && read.errors.length === 0) return read.project.config;
  // Only handler files missing (a function being retired, its file deleted first): the config is whole,
  // and the tools need no handler.
  const usable = read.project?.config ?? read.partial;
  if (!usable || (!read.project && !needs(usable))) throw new WarrenErrors(read.errors);
  const n = read.errors.length;
  process.stderr.write(
    `warning: the project has ${n} problem${n === 1 ? '' : 's'}; going on with what could be read:\n${indent(new WarrenErrors(read.errors).format(dir))}\n`,
  );
  return usable;
}
