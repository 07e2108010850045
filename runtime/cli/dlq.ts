/**
 * `warren dlq list|replay|purge FN`: a function's dead-letter queue, straight against the broker with
 * the project's config (`--dir`); no running runtime needed.
 */
import type { Command } from 'commander';
import { functionNamed, type WarrenConfig } from '../config/types';
import {
  browseDeadLetters,
  listDeadLetters,
  purgeDeadLetters,
  replayDeadLetters,
  DEFAULT_LIST_LIMIT,
  type DeadLetter,
  type DeadLetterList,
  type DeadLetterPage,
  type ReplayResult,
} from '../deadletters';
import { EXIT, WarrenError } from '../errors';
import { lostConnection } from '../connection/unreachable';
import { vhostUrl } from '../topology/names';
import { deadQueueName } from '../topology/names';
import { firstLine } from '../lib/first-line';
import { parseCount, projectDir, readForTools, repeated, reportFailure } from './common';

interface DlqOptions {
  dir?: string;
  limit?: string;
  json?: boolean;
  /** list, replay: only the dead letters matching these words */
  search?: string;
  /** replay: only these (message ids, repeatable) */
  id?: string[];
}

export interface DlqTarget {
  url: string;
  /** the dead-letter queue */
  queue: string;
  /** the function's own queue, where a replay sends the dead letters */
  source: string;
}

/**
 * The dead-letter queue of function `name`. A name the config no longer knows (its file was deleted:
 * its queues stay on the broker) falls back to the default naming, `<name>.dead`.
 */
export function dlqTarget(config: Pick<WarrenConfig, 'url' | 'vhost' | 'functions'>, name: string): DlqTarget {
  const url = vhostUrl(config.url, config.vhost);
  const fn = functionNamed(config, name);
  if (!fn) return { url, queue: deadQueueName(name), source: name };
  if (!fn.deadLetter) {
    throw new WarrenError('WARREN_E_USAGE', `function ${name} has \`deadLetter: false\`: it has no dead-letter queue`, {
      hint: `set \`deadLetter: true\` under functions.${name} in queues.yaml to keep failed messages`,
    });
  }
  return { url, queue: deadQueueName(fn.queue), source: fn.queue };
}

async function resolveTarget(name: string, options: DlqOptions): Promise<{ target: DlqTarget; config: Pick<WarrenConfig, 'url' | 'vhost' | 'functions'> }> {
  // With problems elsewhere in the project, a function whose own entry reads is still served.
  const config = await readForTools(projectDir(options), (partial) => functionNamed(partial, name) !== undefined);
  return { target: dlqTarget(config, name), config };
}

/** Names the known functions when the queue is not there. */
async function withHint<T>(config: Pick<WarrenConfig, 'functions'>, name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof WarrenError && err.code === 'WARREN_E_UNKNOWN_FUNCTION' && !functionNamed(config, name)) {
      throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}, and no queue ${deadQueueName(name)} on the broker`, {
        hint: `functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
      });
    }
    // The node went away under a read or a purge (a replay goes on by itself): said, not amqplib's stack.
    if (!(err instanceof WarrenError) && lostConnection(err)) {
      throw new WarrenError('WARREN_E_BROKER_UNREACHABLE', `lost the connection to the broker: ${(err as Error).message}`, {
        hint: 'nothing a list reads is removed (what it held goes back to the dead-letter queue); run the command again: it connects to the next node that answers',
        cause: err,
      });
    }
    throw err;
  }
}

export async function dlqList(name: string, options: DlqOptions): Promise<number> {
  const limit = options.limit === undefined ? DEFAULT_LIST_LIMIT : parseCount(options.limit, '--limit');
  const { target, config } = await resolveTarget(name, options);
  const search = options.search?.trim();
  if (search) {
    const page = await withHint(config, name, () => browseDeadLetters(target.url, target.queue, { search, limit }));
    process.stdout.write(options.json ? JSON.stringify(page, null, 2) + '\n' : formatSearch(page, search));
    return EXIT.OK;
  }
  const list = await withHint(config, name, () => listDeadLetters(target.url, target.queue, limit));
  process.stdout.write(options.json ? JSON.stringify(list, null, 2) + '\n' : formatList(list));
  return EXIT.OK;
}

export async function dlqReplay(name: string, options: DlqOptions): Promise<number> {
  const limit = options.limit === undefined ? undefined : parseCount(options.limit, '--limit');
  const resolved = await resolveTarget(name, options);
  const { config } = resolved;
  const target = await ownersQueue(resolved.target, config, name);
  const search = options.search?.trim();
  const keys = options.id && options.id.length > 0 ? options.id : undefined;
  const result = await withHint(config, name, () =>
    replayDeadLetters(target.url, target.queue, {
      queue: target.source,
      ...(limit === undefined ? {} : { limit }),
      ...(keys ? { keys } : {}),
      ...(search ? { search } : {}),
    }),
  );
  process.stdout.write(options.json ? JSON.stringify(result, null, 2) + '\n' : formatReplay(result));
  // A name that is no function of this project (one whose queue was renamed, or deleted): the copies
  // went to the queue its dead-letter queue is named after, which no function here consumes.
  const consumer = Object.values(config.functions).find((f) => f.queue === target.source);
  if (!consumer && result.replayed > 0) {
    process.stderr.write(
      `warning: no function of this project consumes ${target.source}: the ${result.replayed} replayed there wait until one does; a function whose queue was renamed reads its new one, and its old dead letters are moved with a shovel or published again to it\n`,
    );
  }
  return result.kept.length > 0 || result.missing.length > 0 ? EXIT.RUNTIME : EXIT.OK;
}

/**
 * A replay goes to the queue of the function that dead-lettered the letters (SPEC §4). Named by a
 * queue that is no function of this project (the dead-letter queue left behind when a function's
 * `queue:` was renamed), the letters still name their function (`x-warren-function`): when it is one
 * of this project, its queue now is where they go, not the old queue no one reads any more.
 */
async function ownersQueue(target: DlqTarget, config: Pick<WarrenConfig, 'functions'>, name: string): Promise<DlqTarget> {
  if (functionNamed(config, name)) return target;
  const oldest = await withHint(config, name, () => listDeadLetters(target.url, target.queue, 1));
  const owner = oldest.letters[0]?.function;
  const fn = owner ? functionNamed(config, owner) : undefined;
  if (!fn || fn.queue === target.source) return target;
  process.stderr.write(
    `the dead letters in ${target.queue} were dead-lettered by function ${fn.name}, whose queue is now ${fn.queue}: they are replayed there\n`,
  );
  return { ...target, source: fn.queue };
}

export async function dlqPurge(name: string, options: DlqOptions): Promise<number> {
  const { target, config } = await resolveTarget(name, options);
  const purged = await withHint(config, name, () => purgeDeadLetters(target.url, target.queue));
  process.stdout.write(
    options.json ? JSON.stringify({ queue: target.queue, purged }) + '\n' : `purged ${purged} message${purged === 1 ? '' : 's'} from ${target.queue}\n`,
  );
  return EXIT.OK;
}

export function formatList(list: DeadLetterList): string {
  if (list.total === 0) return `${list.queue} is empty\n`;
  const head =
    `${list.queue}: ${list.total} dead letter${list.total === 1 ? '' : 's'}` +
    (list.letters.length < list.total ? ` (showing the oldest ${list.letters.length}; --limit N for more)` : '') +
    '\n';
  return head + list.letters.map((l, i) => formatLetter(l, i + 1)).join('');
}

/**
 * A body as it is when it prints on one line as it is (JSON, plain text); quoted with its escapes
 * when it holds line breaks, control characters or leading/trailing spaces a terminal would hide.
 */
export function shownBody(preview: string): string {
  const plain = preview !== '' && !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(preview) && preview.trim() === preview;
  return plain ? preview : JSON.stringify(preview);
}

/** A body that is not UTF-8 text is not printed: its bytes would garble the terminal. */
function shownPreview(l: DeadLetter): string {
  if (l.bodyPreview.includes('\uFFFD')) return `(${l.bodyBytes} bytes, not UTF-8 text; the dashboard and the API show it as base64)`;
  return `${shownBody(l.bodyPreview)}${l.bodyBytes > l.bodyPreview.length ? ` … (${l.bodyBytes} bytes)` : ''}`;
}

export function formatSearch(page: DeadLetterPage, search: string): string {
  if (page.total === 0) return `${page.queue} is empty\n`;
  const scope = page.scanned < page.total ? ` (searched the oldest ${page.scanned} of ${page.total})` : ` of ${page.total}`;
  if (page.matched === 0) return `${page.queue}: no dead letter matches "${search}"${scope}\n`;
  const head =
    `${page.queue}: ${page.matched} dead letter${page.matched === 1 ? '' : 's'}${scope} match${page.matched === 1 ? 'es' : ''} "${search}"` +
    (page.letters.length < page.matched ? ` (showing the oldest ${page.letters.length}; --limit N for more)` : '') +
    '\n';
  return head + page.letters.map((l, i) => formatLetter(l, i + 1)).join('');
}

function formatLetter(l: DeadLetter, n: number): string {
  const route = l.originalExchange === null ? 'unknown' : `exchange "${l.originalExchange}" routing key "${l.originalRoutingKey ?? ''}"`;
  const lines = [
    // Without a message id, the key `dlq replay --id` takes stands in its place.
    `#${n} ${l.messageId ?? `${l.key} (no message id)`}  ${l.deadLetteredAt ?? '(time unknown)'}`,
    `   reason:   ${l.reason ?? 'unknown'}` + (l.attempts === null ? '' : `, after ${l.attempts} attempt${l.attempts === 1 ? '' : 's'}`),
    `   error:    ${l.error ?? '(none recorded)'}`,
    ...(l.lastDeath === null ? [] : [`   last death of a replica that held it: ${l.lastDeath}`]),
    ...(l.function === null ? [] : [`   function: ${l.function}` + (l.version ? ` (version ${l.version})` : '')]),
    ...(where(l.stack) === null ? [] : [`   thrown:   ${where(l.stack)}`]),
    `   route:    ${route}`,
    ...(producerHeaders(l.headers) === '' ? [] : [`   headers:  ${producerHeaders(l.headers)}`]),
    `   body:     ${shownPreview(l)}`,
  ];
  return lines.join('\n') + '\n';
}

/** The stack's first frame (`at handler (functions/pay.ts:12:11)`): where it was thrown; `--json` has the whole stack. */
function where(stack: string | null): string | null {
  const frame = /^\s+at (.+)$/m.exec(stack ?? '')?.[1];
  return frame === undefined ? null : firstLine(frame, 160);
}

/** The headers the message came with (not Warren's nor the broker's), on one line, each value cut to 60 characters. */
function producerHeaders(headers: Record<string, unknown>): string {
  return Object.entries(headers)
    .filter(([key]) => !key.startsWith('x-warren-') && !key.startsWith('x-death') && !key.startsWith('x-first-death') && !key.startsWith('x-last-death'))
    .map(([key, value]) => `${key}=${firstLine(typeof value === 'string' ? value : JSON.stringify(value), 60)}`)
    .join(', ');
}

export function formatReplay(r: ReplayResult): string {
  let out = `replayed ${r.replayed} message${r.replayed === 1 ? '' : 's'} from ${r.queue} to the function's queue ${r.target}; ${r.remaining} left\n`;
  if (r.reconnects)
    out += `  the connection to the broker was lost ${r.reconnects === 1 ? 'once' : `${r.reconnects} times`}; the replay went on through another: a dead letter whose ack was lost with it may have been replayed twice\n`;
  for (const k of r.kept) out += `  kept ${k.messageId ?? k.key}: ${k.why}\n`;
  for (const key of r.missing) out += `  not found: ${key} (replayed or purged already? \`warren dlq list\` shows what is there)\n`;
  return out;
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description("inspect, replay or empty a function's dead-letter queue (straight against the broker)");
  const run = (action: (name: string, options: DlqOptions) => Promise<number>) => async (name: string, options: DlqOptions) => {
    try {
      process.exitCode = await action(name, options);
    } catch (err) {
      process.exitCode = reportFailure(err, projectDir(options));
    }
  };
  dlq
    .command('list <function>')
    .description("show each dead letter's error, attempts, time and a body preview; removes nothing")
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .option('--limit <n>', `show at most N (default ${DEFAULT_LIST_LIMIT})`)
    .option('--search <words>', 'only the dead letters whose error, reason, id, route or body holds every word (case-insensitive)')
    .option('--json', 'print JSON')
    .action(run(dlqList));
  dlq
    .command('replay <function>')
    .description(
      "republish to the function's own queue with confirms (the handler still sees the original exchange and routing key); each leaves the dead-letter queue after its confirm",
    )
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .option('--limit <n>', 'replay at most N (default: all)')
    .option('--id <messageId>', 'only this dead letter (its message id, as `dlq list` shows it; repeatable)', repeated, [] as string[])
    .option('--search <words>', 'only the dead letters `dlq list --search` shows for these words')
    .option('--json', 'print JSON')
    .action(run(dlqReplay));
  dlq
    .command('purge <function>')
    .description('delete every message of the dead-letter queue')
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .option('--json', 'print JSON')
    .action(run(dlqPurge));
}
