/**
 * Step 4 of a message's path (./process.ts), "decide": what happens to a message after one run of
 * its handler, a pure decision tested without a broker (test/unit/replica-decisions.test.ts).
 * ./carry-out.ts carries it out with exactly one settlement.
 */
import type { FunctionConfig } from '../config/types';
import { retryDelay, retryQueueName, deadQueueName } from '../topology/names';

export type DeadReason = 'error' | 'reject' | 'schema' | 'invalid-json' | 'too-large' | 'timeout' | 'delivery-limit';

export type Outcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'error'; error: Error; timedOut: boolean }
  | { kind: 'reject'; error: Error }
  | { kind: 'schema'; error: Error }
  | { kind: 'invalid-json'; error: Error }
  | { kind: 'too-large'; error: Error }
  | { kind: 'delivery-limit'; error: Error };

export type Settlement =
  /** handler succeeded: publish the output (if any) with a confirm, then ack */
  | { action: 'ack'; output?: { exchange: string; routingKey: string; value: unknown } }
  /** move the message to a TTL retry queue with `x-warren-attempt: nextAttempt`, then ack */
  | { action: 'retry'; queue: string; delayMs: number; nextAttempt: number; error: Error }
  /** ordered functions keep their place: wait, then nack with requeue (the broker counts the delivery) */
  | { action: 'requeue'; delayMs: number; error: Error }
  /** publish to `<queue>.dead` with the error headers, then ack */
  | { action: 'dead'; queue: string; reason: DeadReason; error: Error }
  /** deadLetter: false and nothing left to try: ack and log the loss the user asked for */
  | { action: 'drop'; reason: DeadReason; error: Error };

const ACK: Settlement = Object.freeze({ action: 'ack' });

/** Outcomes of a message refused before its handler (./read-message.ts): no handler time to count. */
const REFUSED: ReadonlySet<Outcome['kind']> = new Set(['schema', 'invalid-json', 'too-large']);

/** The handler ran to reach this outcome (warren_handler_duration_seconds counts it). */
export function handlerRan(outcome: Outcome): boolean {
  return !REFUSED.has(outcome.kind);
}

/** Failures that no retry can fix go to the dead-letter queue at once. */
const FINAL: ReadonlySet<Outcome['kind']> = new Set(['reject', 'schema', 'invalid-json', 'too-large', 'delivery-limit']);

export function decideSettlement(fn: FunctionConfig, attempt: number, outcome: Outcome): Settlement {
  if (outcome.kind === 'ok') {
    const output =
      fn.output && outcome.value !== undefined ? { exchange: fn.output.exchange, routingKey: fn.output.routingKey, value: outcome.value } : undefined;
    return output ? { action: 'ack', output } : ACK;
  }
  const canRetry = !FINAL.has(outcome.kind) && attempt < fn.retry.attempts;
  if (canRetry) {
    const delayMs = retryDelay(fn.retry, attempt);
    if (fn.ordered) return { action: 'requeue', delayMs, error: outcome.error };
    return { action: 'retry', queue: retryQueueName(fn.queue, delayMs), delayMs, nextAttempt: attempt + 1, error: outcome.error };
  }
  const reason: DeadReason = outcome.kind === 'error' ? (outcome.timedOut ? 'timeout' : 'error') : outcome.kind;
  if (!fn.deadLetter) return { action: 'drop', reason, error: outcome.error };
  return { action: 'dead', queue: deadQueueName(fn.queue), reason, error: outcome.error };
}
