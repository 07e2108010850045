/**
 * Warren's message headers, pure. The attempt count lives in the message (and in the quorum queue's
 * delivery count), never only in a process's memory, so it survives crashes and restarts.
 */
import type { DeadReason } from './outcome';

export const H = {
  attempt: 'x-warren-attempt',
  redeliveries: 'x-warren-redeliveries',
  fn: 'x-warren-function',
  error: 'x-warren-error',
  stack: 'x-warren-stack',
  attempts: 'x-warren-attempts',
  version: 'x-warren-version',
  exchange: 'x-warren-original-exchange',
  routingKey: 'x-warren-original-routing-key',
  at: 'x-warren-dead-lettered-at',
  reason: 'x-warren-reason',
  dropped: 'x-warren-dropped-headers',
  /** why the last replica that held this message died (a crash, exit, out of memory, a blocked loop) */
  lastDeath: 'x-warren-last-death',
  /** the producer's `CC` header, kept under another name on Warren's copies (see copyHeaders) */
  cc: 'x-warren-original-cc',
} as const;

const MAX_ERROR = 1_000;
const MAX_STACK = 4_000;

/**
 * The largest attempt or count Warren believes from a header. Warren writes small integers; anyone
 * can publish `x-warren-attempt: 1e308` or a nested table, and a count past this is no count at all.
 */
export const MAX_COUNT = 10_000;

/**
 * A count from a header value: a non-negative integer capped at MAX_COUNT, 0 when absent or not a
 * number. Text is not a count (Warren and the broker write numbers; `"3"` is someone else's header).
 */
export function countOf(value: unknown): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'bigint') n = value > BigInt(MAX_COUNT) ? MAX_COUNT : Number(value);
  else return 0;
  if (Number.isNaN(n) || n <= 0) return 0;
  return Math.min(Math.floor(n), MAX_COUNT);
}

/**
 * 1-based attempt of this delivery: the attempt the retry ladder carried in the headers, plus the
 * deliveries the broker has already counted for this copy (a replica that died mid-message, an
 * ordered retry in place, a requeue at shutdown). Always an integer from 1 to MAX_COUNT.
 */
export function attemptOf(headers: Record<string, unknown> | undefined): number {
  const carried = countOf(headers?.[H.attempt]) || 1;
  return Math.min(carried + countOf(headers?.['x-delivery-count']) + countOf(headers?.[H.redeliveries]), MAX_COUNT);
}

/**
 * The handler's runs so far, for a delivery that is dead-lettered past the redelivery limit without
 * running: the attempt the retry ladder carried, less the one this delivery would have been, plus
 * `redeliveries`, the deliveries `admit` counted against it (./suspects.ts `priorDeliveries`: a
 * classic queue's redelivered flag included, deliveries forgiven left out). Read from the headers
 * alone, a classic queue's letter said one run fewer than its error's "delivered N times", and a
 * forgiven one a run more.
 */
export function attemptsBefore(headers: Record<string, unknown> | undefined, redeliveries: number): number {
  const carried = countOf(headers?.[H.attempt]) || 1;
  return Math.min(Math.max(carried - 1 + redeliveries, 1), MAX_COUNT);
}

/** Headers that describe one delivery of one queue and must not travel with a copy. */
const DELIVERY_HEADERS = ['x-delivery-count', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'rascal'];

/**
 * What would travel with a handler's copy if it forwarded its headers: the attempt and the route
 * Warren carries through its retry queue, and the broker's per-delivery records. A handler that
 * passes `ctx.headers` on to ctx.publish (to keep a trace id, say) must not start the next function
 * at this one's attempt 3, nor make it report this one's routing key.
 */
const HIDDEN_FROM_HANDLER: readonly string[] = [H.attempt, H.redeliveries, H.exchange, H.routingKey, ...DELIVERY_HEADERS];

/**
 * The headers a handler sees (ctx.headers, a batch item's headers): the producer's, and Warren's
 * dead-letter facts (error, reason, …) for a function that reads a dead-letter queue, without the
 * ones above, which ctx.attempt, ctx.exchange and ctx.routingKey stand for. The same object when there is nothing to hide.
 */
export function visibleHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!headers) return {};
  let hidden = false;
  for (const name of HIDDEN_FROM_HANDLER) if (name in headers) hidden = true;
  if (!hidden) return headers;
  const visible: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) if (!HIDDEN_FROM_HANDLER.includes(name)) visible[name] = value;
  return visible;
}

/**
 * amqplib encodes a header table into a 64 KiB buffer and throws past it. A copy (retry, move, dead
 * letter) adds Warren's own headers (error and stack: up to ~6 KiB), so the headers it carries over
 * are kept within this budget; the rest are dropped and counted in `x-warren-dropped-headers`.
 * Otherwise a message published with ~60 KiB of headers could never be copied, hence never settled.
 */
const MAX_COPIED_HEADER_BYTES = 48 * 1024;

export function copyHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  let budget = MAX_COPIED_HEADER_BYTES;
  let dropped = 0;
  for (const [header, value] of Object.entries(headers ?? {})) {
    // RabbitMQ's sender-selected distribution: a message published with a `CC` (or `BCC`) header also
    // goes to the queues those routing keys name, and the broker keeps `CC` in what it delivers. A
    // copy with it (a retry, a dead letter, a replay) was handed again to every queue it names: another
    // function ran the message once more for each. Copies carry it as H.cc; BCC never reaches a consumer.
    if (DELIVERY_HEADERS.includes(header) || header === H.dropped || header === 'BCC') continue;
    const name = header === 'CC' ? H.cc : header;
    const size = 1 + Buffer.byteLength(name) + encodedSize(value);
    if (size > budget) {
      dropped++;
      continue;
    }
    budget -= size;
    copy[name] = value;
  }
  dropped += countOf(headers?.[H.dropped]);
  if (dropped > 0) copy[H.dropped] = Math.min(dropped, MAX_COUNT);
  return copy;
}

/** An upper bound of the bytes amqplib's field-table encoding takes for one value. */
function encodedSize(value: unknown): number {
  if (typeof value === 'string') return 5 + Buffer.byteLength(value);
  if (Buffer.isBuffer(value)) return 5 + value.length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + encodedSize(item), 5);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    if (Object.hasOwn(value, '!')) return 1 + encodedSize((value as { value?: unknown }).value);
    let sum = 5;
    for (const [key, item] of Object.entries(value)) sum += 1 + Buffer.byteLength(key) + encodedSize(item);
    return sum;
  }
  return 9;
}

/** The death reason a replica saw for this delivery, else the one the message carries from before. */
export function lastDeathOf(headers: Record<string, unknown> | undefined, seen: string | undefined): string | undefined {
  if (seen) return truncate(seen, MAX_ERROR);
  const carried = headers?.[H.lastDeath];
  // A forged or oversized header is cut like an error message.
  if (typeof carried === 'string') return truncate(carried, MAX_ERROR);
  return Buffer.isBuffer(carried) ? truncate(carried.subarray(0, MAX_ERROR * 4).toString('utf8'), MAX_ERROR) : undefined;
}

export interface Route {
  exchange: string;
  routingKey: string;
}

/**
 * Where the message was first published. A retry comes back through the default exchange, so the
 * first route travels in headers from the first retry on.
 */
export function originalRoute(headers: Record<string, unknown> | undefined, delivered: Route): Route {
  const exchange = headers?.[H.exchange];
  const routingKey = headers?.[H.routingKey];
  if (isName(exchange) && isName(routingKey)) return { exchange, routingKey };
  return delivered;
}

/** AMQP exchange names and routing keys are short strings: at most 255 bytes. */
const MAX_NAME_BYTES = 255;

function isName(value: unknown): value is string {
  return typeof value === 'string' && Buffer.byteLength(value) <= MAX_NAME_BYTES;
}

export function retryHeaders(headers: Record<string, unknown> | undefined, nextAttempt: number, route: Route): Record<string, unknown> {
  const copy = copyHeaders(headers);
  delete copy[H.redeliveries];
  copy[H.attempt] = nextAttempt;
  copy[H.exchange] = route.exchange;
  copy[H.routingKey] = route.routingKey;
  return copy;
}

/** A replayed dead letter starts afresh on its original route: Warren's own headers are removed. */
export function replayHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy = copyHeaders(headers);
  for (const name of Object.values(H)) delete copy[name];
  return copy;
}

export interface DeadLetterFacts {
  functionName: string;
  version: string;
  reason: DeadReason;
  error: Error;
  attempts: number;
  route: Route;
  now: Date;
  /** a delivery-limit dead letter: why the last replica that held it died */
  lastDeath?: string;
}

/** The original headers plus what a person needs to understand and replay a dead letter (SPEC §4). */
export function deadLetterHeaders(headers: Record<string, unknown> | undefined, facts: DeadLetterFacts): Record<string, unknown> {
  const copy = copyHeaders(headers);
  delete copy[H.attempt];
  delete copy[H.redeliveries];
  return {
    ...copy,
    [H.fn]: facts.functionName,
    // An Error whose message or stack a library set to something else than a string still reads.
    [H.error]: truncate(text(facts.error.message) || text(facts.error), MAX_ERROR),
    [H.stack]: boundedStack(text(facts.error.stack)),
    [H.attempts]: facts.attempts,
    [H.version]: facts.version,
    [H.exchange]: facts.route.exchange,
    [H.routingKey]: facts.route.routingKey,
    [H.at]: facts.now.toISOString(),
    [H.reason]: facts.reason,
    ...(facts.lastDeath ? { [H.lastDeath]: facts.lastDeath } : {}),
  };
}

/**
 * A stack within MAX_STACK that keeps its frames: its first lines (the error's name and message) are
 * cut to MAX_ERROR first. Cut at the end alone, a long message filled all of it and no frame was left.
 */
export function boundedStack(stack: string): string {
  if (stack.length <= MAX_STACK) return stack;
  const frames = stack.search(/\n\s+at /);
  const head = frames < 0 ? stack : stack.slice(0, frames);
  return truncate(truncate(head, MAX_ERROR) + (frames < 0 ? '' : stack.slice(frames)), MAX_STACK);
}

/**
 * The error as a log line writes it: the same error when short, else a copy whose message and stack
 * are cut as a dead letter's are. A handler's error with a 200 KB message made a 420 KB line (the
 * message twice: on its own and atop the stack).
 */
export function loggableError(err: Error): Error {
  const message = text(err.message);
  const stack = text(err.stack);
  if (message.length <= MAX_ERROR && stack.length <= MAX_STACK) return err;
  const copy = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as Error, err);
  for (const [key, value] of [
    ['message', truncate(message, MAX_ERROR)],
    ['stack', boundedStack(stack)],
  ] as const)
    Object.defineProperty(copy, key, { value, writable: true, configurable: true, enumerable: false });
  return copy;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  try {
    return typeof value === 'object' ? (JSON.stringify(value) ?? String(value)) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
