/**
 * Every name Warren gives a thing on the broker: dead-letter queues (`<queue>.dead`), retry queues
 * (`<queue>.retry.<delay>`) and the AMQP URL of a vhost. Nothing else builds or parses these names.
 */
import type { RetryConfig } from '../config/types';
import { formatDurationUpTo } from '../config/units';
import { mapUrls } from '../connection/urls';

const DEAD_SUFFIX = '.dead';
const RETRY_INFIX = '.retry.';

/** Where a function's messages go when they cannot succeed. */
export function deadQueueName(queue: string): string {
  return `${queue}${DEAD_SUFFIX}`;
}

/** `orders.dead` → `orders`; undefined for a name that is not a dead-letter queue's. */
export function sourceQueueOf(deadQueue: string): string | undefined {
  return deadQueue.endsWith(DEAD_SUFFIX) ? deadQueue.slice(0, -DEAD_SUFFIX.length) : undefined;
}

/** Names users may not give their own queues: Warren makes queues with these names. */
export function isDeadQueueName(name: string): boolean {
  return name.endsWith(DEAD_SUFFIX);
}
export function isRetryQueueName(name: string): boolean {
  return name.includes(RETRY_INFIX);
}

/** The AMQP URL (or each URL of a list) with its path set to the vhost: rascal takes the vhost from the URL, not the key. */
export function vhostUrl(url: string, vhost: string): string {
  // A cluster's list: each URL gets the vhost.
  return mapUrls(url, (parsed) => {
    parsed.pathname = vhost === '/' ? '' : `/${encodeURIComponent(vhost)}`;
  });
}

/** The TTL queue a message waits in before going back to `queue`, named by its delay: `q.retry.1m30s`. */
export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}${RETRY_INFIX}${formatDelay(delayMs)}`;
}

/** 1000 → "1s", 500 → "500ms", 90000 → "1m30s", 3600000 → "1h" (0 → "0ms", as retry queues were always named). */
export function formatDelay(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`delay must be a whole number of ms >= 0, got ${ms}`);
  return ms === 0 ? '0ms' : formatDurationUpTo(ms, 'h');
}

/**
 * How long a message waits before attempt n + 1, where n = 1 after the first failed attempt.
 * Exponential: delay * 2^(n-1), capped at maxDelay. Fixed: delay (also capped, so maxDelay always holds).
 */
export function retryDelay(retry: RetryConfig, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`retry number must be an integer >= 1, got ${n}`);
  const raw = retry.backoff === 'fixed' ? retry.delay : retry.delay * 2 ** (n - 1);
  return Math.min(raw, retry.maxDelay);
}

/** The distinct delays a function's retries use (one retry queue each), shortest first. */
export function retryLadder(retry: RetryConfig): number[] {
  const delays = new Set<number>();
  for (let n = 1; n < retry.attempts; n++) delays.add(retryDelay(retry, n));
  return [...delays].sort((a, b) => a - b);
}
