import type { RetryConfig } from '../config/types';

/** Where a function's messages go when they cannot succeed. */
export function deadQueueName(queue: string): string {
  return `${queue}.dead`;
}

/** A scheduled function's election queue: it holds the last tick emitted, its one holder emits. */
export function scheduleQueueName(queue: string): string {
  return `${queue}.schedule`;
}

/** The TTL queue a message waits in before going back to `queue`, named by its delay: `q.retry.1m30s`. */
export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${formatDelay(delayMs)}`;
}

/** 1000 → "1s", 500 → "500ms", 90000 → "1m30s", 3600000 → "1h". */
export function formatDelay(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) throw new RangeError(`delay must be a whole number of ms >= 0, got ${ms}`);
  if (ms === 0) return '0ms';
  const units: Array<[string, number]> = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ];
  let rest = ms;
  let out = '';
  for (const [suffix, size] of units) {
    const count = Math.floor(rest / size);
    if (count > 0) out += `${count}${suffix}`;
    rest -= count * size;
  }
  return out;
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
