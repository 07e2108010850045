/**
 * `warren invoke` for a batch function: the message is a JSON array, one element per item. Each item
 * goes through a replica's steps (decode and validate on its own, then one handler call for the valid
 * ones, each alone again when that call timed out, then the per-item decision: runtime/replica/batch/),
 * and the command prints what a replica would do with each.
 */
import type { Logger } from 'pino';
import type { BatchHandler } from '../index';
import type { FunctionConfig } from '../config/types';
import { WarrenError } from '../errors';
import { readMessage, type Validate } from '../replica/read-message';
import { decideSettlement, type Outcome, type Settlement } from '../replica/outcome';
import type { Delivery } from '../replica/delivery';
import type { Publish } from '../replica/handler-context';
import { itemOutcomes, runsAgainAlone } from '../replica/batch/item-outcomes';
import { runBatch } from '../replica/batch/run-batch';
import { orderedSplit } from '../replica/batch/ordered-line';

export interface InvokedItem {
  index: number;
  outcome: Outcome;
  settlement: Settlement;
  /** ordered: not settled, it runs again in place with this earlier item, which failed (../replica/batch/ordered-line.ts) */
  behind?: number;
  /** its index in the handler's `items`, where items before it never reached the handler (invalid JSON, a schema failure) */
  handlerIndex?: number;
}

export async function invokeBatch(
  fn: FunctionConfig,
  handler: BatchHandler,
  message: unknown,
  deps: {
    validate: Validate;
    publish: Publish;
    log: Logger;
    asDelivery: (message: unknown) => Delivery;
    /** the items run again alone, a timeout of their own: the caller's watchdog starts over */
    runningAgain?: () => void;
  },
): Promise<InvokedItem[]> {
  if (!Array.isArray(message)) {
    throw new WarrenError('WARREN_E_USAGE', `${fn.name} is a batch function: give a JSON array of messages`, {
      hint: `e.g. warren invoke ${fn.name} '[{"id":1},{"id":2}]'`,
    });
  }
  if (message.length === 0) {
    throw new WarrenError('WARREN_E_USAGE', `${fn.name} is a batch function: give a JSON array of at least one message (a replica never calls it with none)`, {
      hint: `e.g. warren invoke ${fn.name} '[{"id":1},{"id":2}]'`,
    });
  }
  const attempt = 1;
  const outcomes: Outcome[] = new Array(message.length);
  const valid: Array<{ index: number; delivery: Delivery; attempt: number; value: unknown }> = [];
  message.forEach((body, index) => {
    const delivery = deps.asDelivery(body);
    const read = readMessage(delivery.content, delivery.properties.contentType, fn, deps.validate, delivery.properties.contentEncoding);
    if (read.ok) valid.push({ index, delivery, attempt, value: read.value });
    else outcomes[index] = read.outcome;
  });
  const runDeps = {
    fn,
    handler,
    publish: deps.publish,
    log: deps.log,
    shutdown: new AbortController().signal,
    onStuck: (reason: string) => deps.log.warn({ reason }, 'a replica would be recycled'),
  };
  if (valid.length > 0) {
    const ran = await runBatch(valid, runDeps);
    // As a replica does: a call that timed out runs each item again alone.
    const alone = runsAgainAlone(ran, valid.length);
    if (alone) {
      deps.log.warn({ size: valid.length }, `batch of ${valid.length} timed out; each of its items runs again alone`);
      deps.runningAgain?.();
    }
    const each = alone ? await Promise.all(valid.map(async (item) => itemOutcomes(1, await runBatch([item], runDeps))[0]!)) : itemOutcomes(valid.length, ran);
    each.forEach((outcome, i) => (outcomes[valid[i]!.index] = outcome));
  }
  const items: InvokedItem[] = outcomes.map((outcome, index) => ({ index, outcome, settlement: decideSettlement(fn, attempt, outcome) }));
  valid.forEach((item, i) => {
    if (i !== item.index) items[item.index]!.handlerIndex = i;
  });
  const split = fn.ordered ? orderedSplit(items.map((item) => item.settlement)) : null;
  if (split) for (const i of split.again.slice(1)) items[i]!.behind = split.again[0]!;
  return items;
}
