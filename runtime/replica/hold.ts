/**
 * When Warren cannot settle a message because a publish that must come first failed (the retry copy,
 * the dead letter, a move aside: the broker refused it or had no channel for it, as while a cluster
 * elects a new leader for the queue it goes to), the message stays in hand and the step is tried
 * again with backoff, instead of going straight back to its queue. Every return to the queue counts
 * as a delivery without settlement, and the message comes straight back: a few refusals in a row
 * within milliseconds would dead-letter a healthy message for its redelivery limit (seen in the
 * bench's node-kill row: `delivered 4 times without being settled` after one kill).
 *
 * It is given back (requeued) after HOLD_MS, at shutdown, or at once when the channel it came on is
 * gone (the broker already has it back; nothing is sent then).
 */
import type { Logger } from 'pino';
import { sleep } from '../lib/sleep';
import type { Settle } from './delivery';

/** How long a message may be held while its settlement is tried again. */
export const HOLD_MS = 30_000;
/** The first wait before trying again; it doubles up to MAX_WAIT_MS. */
export const FIRST_WAIT_MS = 100;
export const MAX_WAIT_MS = 5_000;

export const GAVE_BACK: unique symbol = Symbol('gave back');

export interface Held {
  settle: Settle;
  /** aborted at shutdown: stop waiting, give it back */
  shutdown: AbortSignal;
  log: Logger;
  messageId: string | undefined;
}

/**
 * `task` failed with `first`: try it again while the message is held, with backoff. Resolves with
 * its result, or GAVE_BACK once the message was returned to the queue (or was already the broker's
 * again). Never rejects.
 */
export async function holdAndTryAgain<T>(first: unknown, task: () => Promise<T>, m: Held, holdMs = HOLD_MS): Promise<T | typeof GAVE_BACK> {
  const since = Date.now();
  let err = first;
  for (let tries = 1; ; tries++) {
    const waitMs = Math.min(FIRST_WAIT_MS * 2 ** (tries - 1), MAX_WAIT_MS);
    if (!m.settle.held || m.shutdown.aborted || Date.now() + waitMs - since > holdMs) return giveBack(err, m);
    m.log.warn({ err, messageId: m.messageId, tries, retryInMs: waitMs }, 'could not settle the message yet; it stays in hand and is tried again');
    await sleep(waitMs, m.shutdown);
    // Requeued by the drain meanwhile: it is the broker's again.
    if (m.settle.settled) return GAVE_BACK;
    if (m.shutdown.aborted) return giveBack(err, m);
    try {
      return await task();
    } catch (again) {
      err = again;
    }
  }
}

/** Leave the message to the broker (requeue), saying why; the processors' last resort too. */
export function giveBack(err: unknown, m: Held): typeof GAVE_BACK {
  if (m.settle.requeue()) m.log.error({ err, messageId: m.messageId }, 'could not settle the message; it is returned to the queue');
  return GAVE_BACK;
}
