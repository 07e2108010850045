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
  /** why the last replica that held this message died (a crash, exit, out of memory, a blocked loop) */
  lastDeath: 'x-warren-last-death',
} as const;

const MAX_ERROR = 1_000;
const MAX_STACK = 4_000;

function toInt(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : typeof value === 'bigint' ? Number(value) : NaN;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/**
 * 1-based attempt of this delivery: the attempt the retry ladder carried in the headers, plus the
 * deliveries the broker has already counted for this copy (a replica that died mid-message, an
 * ordered retry in place, a requeue at shutdown).
 */
export function attemptOf(headers: Record<string, unknown> | undefined): number {
  const carried = toInt(headers?.[H.attempt]) || 1;
  return carried + toInt(headers?.['x-delivery-count']) + toInt(headers?.[H.redeliveries]);
}

/** Headers that describe one delivery of one queue and must not travel with a copy. */
const DELIVERY_HEADERS = ['x-delivery-count', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'rascal'];

export function copyHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...headers };
  for (const name of DELIVERY_HEADERS) delete copy[name];
  return copy;
}

/** The death reason a replica saw for this delivery, else the one the message carries from before. */
export function lastDeathOf(headers: Record<string, unknown> | undefined, seen: string | undefined): string | undefined {
  if (seen) return truncate(seen, MAX_ERROR);
  const carried = headers?.[H.lastDeath];
  if (typeof carried === 'string') return carried;
  return Buffer.isBuffer(carried) ? carried.toString('utf8') : undefined;
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
  if (typeof exchange === 'string' && typeof routingKey === 'string') return { exchange, routingKey };
  return delivered;
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
    [H.error]: truncate(facts.error.message || String(facts.error), MAX_ERROR),
    [H.stack]: truncate(facts.error.stack ?? '', MAX_STACK),
    [H.attempts]: facts.attempts,
    [H.version]: facts.version,
    [H.exchange]: facts.route.exchange,
    [H.routingKey]: facts.route.routingKey,
    [H.at]: facts.now.toISOString(),
    [H.reason]: facts.reason,
    ...(facts.lastDeath ? { [H.lastDeath]: facts.lastDeath } : {}),
  };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}
