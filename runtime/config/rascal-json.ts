/**
 * rascal.json text → plain value with `${VAR}` interpolated in every string. Pure: the caller reads
 * the file. JSON.parse gives no positions, so syntax and env errors are located in the text itself.
 */
import { basename } from 'node:path';
import { parseDocument } from 'yaml';
import { WarrenError } from '../errors';
import { interpolate, malformedHint, shownReference, type Env } from './interpolate';
import { duplicateKeyAt } from './source';
import { closest } from './suggest';

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/**
 * Where JSON.parse gave up, as an offset, and its message without the text it quotes. Node 20 gives
 * `at position N` for most errors but not for `Unexpected token '/', "…" is not valid JSON` (a
 * comment, single quotes, `undefined`): there it is the first character no JSON token starts with.
 */
export function jsonParseError(text: string, err: unknown): { message: string; offset: number } {
  const raw = (err as Error).message;
  const at = /at position (\d+)/.exec(raw);
  const message = raw.replace(/ in JSON at position \d+.*$/s, '').replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, '');
  return { message, offset: at ? Number(at[1]) : /^Unexpected token/.test(raw) ? firstStrayCharacter(text) : text.length };
}

const JSON_TOKEN = /\s+|[{}[\]:,]|"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

function firstStrayCharacter(text: string): number {
  let i = 0;
  while (i < text.length) {
    JSON_TOKEN.lastIndex = i;
    const token = JSON_TOKEN.exec(text);
    if (!token) return i;
    i += token[0].length;
  }
  return text.length;
}

/**
 * Where a key path (`['vhosts', '/', 'connection']`) is written in JSON text: each key is looked for
 * after the one before it. Good enough to point at a setting; the start of the file when not found.
 */
export function keyPathAt(text: string, path: readonly string[]): { line: number; column: number } {
  let offset = -1;
  for (const key of path) {
    const quoted = text.indexOf(JSON.stringify(key), offset + 1);
    // a YAML schema file writes `key:` bare
    const bare = new RegExp(`(?<=^|[\\s{,])${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`, 'mg');
    bare.lastIndex = offset + 1;
    const found = quoted >= 0 ? quoted : (bare.exec(text)?.index ?? -1);
    if (found < 0) break;
    offset = found;
  }
  return lineColumn(text, Math.max(offset, 0));
}

/** rascal's own top-level options (its config schema, and `defaults`) and the connection Warren reads there; rascal ignores anything else without a word. */
const RASCAL_TOP_LEVEL = ['vhosts', 'connection', 'connections', 'publications', 'subscriptions', 'redeliveries', 'encryption', 'defaults', '$schema'];

/**
 * A top-level key rascal does not know: rascal ignores it, so `"vhost": {…}` for `"vhosts"` sends
 * Warren to the default vhost on localhost. Said as a warning: rascal itself accepts it.
 */
export function unknownRascalKeys(file: string, text: string, value: Record<string, unknown>): string[] {
  return Object.keys(value)
    .filter((key) => !RASCAL_TOP_LEVEL.includes(key))
    .map((key) => {
      const { line, column } = keyPathAt(text, [key]);
      const near = closest(key, RASCAL_TOP_LEVEL);
      return (
        `${basename(file)}:${line}:${column} ${key}: not a rascal option, so it is ignored` +
        `\n  hint: ${near ? `did you mean \`${near}\`? ` : ''}rascal.json's top level takes ${RASCAL_TOP_LEVEL.filter((k) => k !== '$schema').join(', ')}`
      );
    });
}

/** A key of rascal.json's connection settings (a vhost's `connection` or `connections`), which AMQP_URL overrides. */
const CONNECTION_SETTING = /^(vhosts\..+\.)?connections?($|[.[])/;

export function parseRascalJson(file: string, text: string, env: Env): { value: Record<string, unknown>; errors: WarrenError[] } {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    const { message, offset } = jsonParseError(text, err);
    return {
      value: {},
      errors: [
        new WarrenError('WARREN_E_CONFIG_SYNTAX', `JSON does not parse: ${message}`, {
          file,
          ...lineColumn(text, offset),
          hint: 'rascal.json is strict JSON: double quotes, no trailing commas, no comments',
        }),
      ],
    };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return {
      value: {},
      errors: [
        new WarrenError('WARREN_E_CONFIG_TYPE', 'rascal.json must hold an object', {
          file,
          ...lineColumn(text, text.search(/\S/)),
          expected: 'a JSON object, e.g. { "vhosts": { … } }',
          hint: 'write {} for no settings, or rascal\'s options, e.g. { "vhosts": { "/": { "connection": { "url": "amqp://localhost" } } } }',
        }),
      ],
    };
  }

  const errors: WarrenError[] = duplicateKeys(file, text);
  const amqpUrlSet = (env['AMQP_URL'] ?? '').trim() !== '';
  let searchFrom = 0;
  const visit = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      const result = interpolate(value, env);
      // each string's references are looked for after the ones already found (JSON gives no positions)
      const start = searchFrom;
      const locate = (fragment: string): { line: number; column: number } => {
        const found = text.indexOf(fragment, start);
        if (found >= 0) searchFrom = Math.max(searchFrom, found + 1);
        return lineColumn(text, found >= 0 ? found : 0);
      };
      // AMQP_URL, when set, wins over rascal.json's connection settings: a variable they use need not be set
      // (a Secret giving AMQP_URL to a pod whose image keeps the file's `${RABBIT_PASSWORD}` was refused).
      const overridden = amqpUrlSet && CONNECTION_SETTING.test(path);
      for (const m of overridden ? [] : result.missing) {
        errors.push(
          new WarrenError('WARREN_E_CONFIG_ENV', `environment variable ${m.name} is not set`, {
            file,
            ...locate('${' + m.name),
            key: path || undefined,
            hint: `set ${m.name}, or give a default: \${${m.name}:-value}`,
          }),
        );
      }
      for (const m of result.malformed) {
        errors.push(
          new WarrenError('WARREN_E_CONFIG_ENV', `${shownReference(m.text)} is not an environment reference`, {
            file,
            ...locate(m.text),
            key: path || undefined,
            hint: malformedHint(m.text),
          }),
        );
      }
      return result.value;
    }
    if (Array.isArray(value)) return value.map((v, i) => visit(v, `${path}[${i}]`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = visit(v, path ? `${path}.${k}` : k);
      return out;
    }
    return value;
  };
  return { value: visit(parsed, '') as Record<string, unknown>, errors };
}

/**
 * JSON.parse keeps the last of two equal keys without a word, so a connection written twice would
 * silently use the second (and a schema file's `type` written twice, the second). JSON is YAML, and
 * yaml's parser reports each duplicate with its offset.
 */
export function duplicateKeys(file: string, text: string): WarrenError[] {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  return doc.errors
    .filter((err) => err.code === 'DUPLICATE_KEY')
    .map((err) => {
      const at = lineColumn(text, err.pos[0]);
      const found = duplicateKeyAt(doc.contents, err.pos[0]);
      if (!found)
        return new WarrenError('WARREN_E_CONFIG_SYNTAX', 'a key appears twice in the same object', {
          file,
          ...at,
          hint: 'JSON would silently keep the last one: merge the two entries or remove one',
        });
      const first = lineColumn(text, found.firstOffset);
      return new WarrenError(
        'WARREN_E_CONFIG_SYNTAX',
        `"${found.name}" appears twice in the same object, first at line ${first.line}, column ${first.column}`,
        {
          file,
          ...at,
          key: found.path,
          hint: `JSON would silently keep the last one: merge the two "${found.name}" entries into one, or remove one`,
        },
      );
    });
}
