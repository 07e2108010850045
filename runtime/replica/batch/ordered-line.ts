/**
 * Pure: how a batch function with `ordered: true` keeps its queue's order (./process-batch.ts runs it).
 *
 * - Batches run one after another, in the order their items were delivered (a single active
 *   consumer delivers in queue order, and the prefetch is one batch).
 * - A message that came back with a count (its replica died while it ran) runs in a batch of its
 *   own, in its place: a poison then dies alone, and the items before it are settled first.
 * - When an item's attempt fails and it has attempts left, nothing may overtake it: the items before
 *   it are settled, and it runs again in place after its retry delay together with every item after
 *   it that is not settled for good (rejected or out of attempts: dead-lettered now). That is
 *   Lambda's rule for FIFO queues. Those items stay in the replica meanwhile, unacked: requeued, each
 *   would come back with one more delivery counted for a failure that was not its own. An item that
 *   succeeded beside it runs again (at least once); one that failed too uses an attempt.
 */
import type { Settlement } from '../outcome';

/** The batches `items` (delivered in this order) run as: fresh neighbours together, each one back with a count alone. */
export function orderedPieces<T extends { again: boolean }>(items: readonly T[]): T[][] {
  const pieces: T[][] = [];
  let fresh: T[] = [];
  for (const item of items) {
    if (!item.again) {
      fresh.push(item);
      continue;
    }
    if (fresh.length > 0) pieces.push(fresh);
    fresh = [];
    pieces.push([item]);
  }
  if (fresh.length > 0) pieces.push(fresh);
  return pieces;
}

export interface OrderedSplit {
  /** indexes settled now, as decided */
  now: number[];
  /** indexes that run again in place, in order, after `delayMs`; `failed` of them use an attempt */
  again: number[];
  failed: Set<number>;
  delayMs: number;
}

/** What one call's settlements (in item order) become in an ordered function; null: every item is settled now. */
export function orderedSplit(settlements: readonly Settlement[]): OrderedSplit | null {
  const first = settlements.findIndex((s) => s.action === 'requeue');
  if (first < 0) return null;
  const split: OrderedSplit = { now: [], again: [], failed: new Set(), delayMs: 0 };
  settlements.forEach((s, i) => {
    if (i < first || s.action === 'dead' || s.action === 'drop') return void split.now.push(i);
    split.again.push(i);
    if (s.action !== 'requeue') return;
    split.failed.add(i);
    if (i === first) split.delayMs = s.delayMs;
  });
  return split;
}
