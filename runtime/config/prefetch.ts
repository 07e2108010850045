/**
 * Pure: the prefetch one replica of a function really uses, and why it differs from what was written.
 *
 * - `ordered: true` takes one message at a time (a crash would otherwise return several at once), a
 *   batch function one batch (../replica/batch/ordered-line.ts runs them one after another).
 * - `batch:` needs at least `batch.size` unacked messages, or no batch could ever fill.
 * - `rateLimit:` caps it to about one second of the rate: a message held in the prefetch waits for
 *   its turn in memory, unacked, so holding more would keep messages out of the broker for longer
 *   than needed and could, at a slow rate, run into the broker's `consumer_timeout`. With the cap a
 *   held message waits at most replicas × prefetch / rate (2 s for 2 replicas at 100/s).
 */
import type { BatchConfig, FunctionConfig } from './types';
import { rateUnit } from './units';

export interface EffectivePrefetch {
  prefetch: number;
  /** one sentence per change from the written prefetch, said at start */
  changes: string[];
}

export function effectivePrefetch(fn: Pick<FunctionConfig, 'prefetch' | 'ordered' | 'batch' | 'rateLimit' | 'replicas'>): EffectivePrefetch {
  if (fn.ordered) {
    // A batch function holds exactly one batch: its items run one batch at a time anyway.
    const size = effectiveBatch(fn).batch?.size ?? 1;
    const what = size === 1 ? 'one message at a time' : 'one batch at a time';
    return { prefetch: size, changes: fn.prefetch !== size ? [`ordered: true takes ${what}; prefetch is ${size}`] : [] };
  }
  let prefetch = fn.prefetch;
  const changes: string[] = [];
  if (fn.rateLimit) {
    const perSecond = Math.max(1, Math.ceil((fn.rateLimit.count * 1_000) / fn.rateLimit.periodMs));
    if (prefetch > perSecond) {
      prefetch = perSecond;
      changes.push(`prefetch capped at ${perSecond} by rateLimit (about one second of messages per replica, so none waits long unacked)`);
    }
  }
  const { batch } = effectiveBatch(fn);
  if (batch && prefetch < batch.size) {
    prefetch = batch.size;
    changes.push(`prefetch raised to ${batch.size} (batch.size): a replica must hold a whole batch`);
  }
  return { prefetch, changes };
}

/**
 * The batch a replica really fills: `batch.size` items at most, and no more than `rateLimit` lets
 * start in one period, since a batch's items start together (`batch: { size: 100 }` with
 * `rateLimit: 50/s` runs batches of up to 50, one a second).
 */
export function effectiveBatch(fn: Pick<FunctionConfig, 'batch' | 'rateLimit'>): { batch?: BatchConfig; changes: string[] } {
  if (!fn.batch) return { changes: [] };
  if (!fn.rateLimit || fn.batch.size <= fn.rateLimit.count) return { batch: fn.batch, changes: [] };
  const { count, periodMs } = fn.rateLimit;
  const per = rateUnit(periodMs);
  return {
    batch: { ...fn.batch, size: count },
    changes: [
      `batch size capped at ${count} by rateLimit ${count}/${per}: a batch's items start together, and at most ${count} may start per ${per === 's' ? 'second' : 'minute'}`,
    ],
  };
}
