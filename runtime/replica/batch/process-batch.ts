/**
 * The path of messages through a replica of a batch function (`batch:` in queues.yaml), built from
 * the same steps as a single message (../process.ts):
 *
 *   1. admit             ../suspects.ts       per item: run, run alone, move aside, or dead (delivery limit)
 *   2. decode, validate  ../read-message.ts   per item, on arrival: a failure is dead-lettered on its own
 *      collect           ./collector.ts       up to batch.size items, or what came within batch.window
 *   3. run the handler   ./run-batch.ts       one call for the batch (after the rate limit, if any);
 *                                             a call that timed out runs each item again alone
 *   4. decide            ./item-outcomes.ts, then ../outcome.ts per item
 *   5. carry out         ../carry-out.ts      per item; the acks of one batch leave as one `multiple` ack
 *
 * THE RULE holds per item: every delivery ends settled exactly once (`finish` requeues it when
 * anything on the way throws; `Settle` lets only the first settlement through). Crash isolation is
 * per item too: a batch that kills its replica returns each of its items with one more delivery,
 * and those come back as suspects that run alone, each as a batch of one.
 */
import type { Logger } from 'pino';
import type { BatchHandler } from '../../index';
import type { FunctionConfig } from '../../config/types';
import type { ReplicaStats } from '../../replica-protocol/stats';
import { InFlight, type Delivery, type InFlightView, type Settle } from '../delivery';
import { attemptOf, attemptsBefore, lastDeathOf, loggableError, originalRoute, type Route } from '../headers';
import { decideSettlement, type Outcome, type Settlement } from '../outcome';
import { aloneWarning, apartOptions, suspectAdmission, type Forgiveness, type IsCleared, type Pausable } from '../suspects';
import { readMessage, type Validate } from '../read-message';
import type { Publish } from '../handler-context';
import { carryOut, failureNote, handBackUnstarted, moveAside, type CarryOutDeps, type Counted } from '../carry-out';
import { deliveryLimit } from '../process';
import { BatchCollector } from './collector';
import { itemOutcomes, runsAgainAlone } from './item-outcomes';
import { GAVE_BACK, giveBack, holdAndTryAgain, type Held } from '../hold';
import { runBatch, type BatchRunDeps } from './run-batch';
import { toError } from '../run-handler';
import { WaitingTurns, type TakeTurn } from '../waiting-turns';
import { scheduledAtOf } from '../../schedule/outcome';
import { sleep } from '../../lib/sleep';
import { messageKey } from '../lost-connection';
import { orderedPieces, orderedSplit } from './ordered-line';

export interface BatchProcessorDeps {
  fn: FunctionConfig & { batch: NonNullable<FunctionConfig['batch']> };
  version: string;
  queueType: 'quorum' | 'classic';
  handler: BatchHandler;
  validate: Validate;
  publish: Publish;
  log: Logger;
  stats: Pick<ReplicaStats, 'enter' | 'leave' | 'ran' | 'count' | 'batch'>;
  now: () => number;
  onStuck: (reason: string) => void;
  /** a scheduled function's tick was settled (runtime/schedule/outcome.ts) */
  onTick?: (scheduledAt: string, outcome: string) => void;
  /** an attempt failed (../carry-out.ts): the dashboard's recent failures */
  onFailure?: CarryOutDeps['onFailure'];
  /** calls `start` when `n` items may start (rateLimit), in the step that counts them; absent: at once */
  waitTurn?: TakeTurn;
  /** why this function's last replica died, as the supervisor last told (see `deathSeen`) */
  lastDeath?: string;
  /** send the acks the consumer holds back to coalesce them, now (before a suspect runs alone) */
  flushAcks?: () => void;
  /** the replica's subscription, paused while a suspect runs alone (./suspects.ts) */
  subscription?: Pausable;
  /** how long an item whose settlement failed is held and tried again (../hold.ts); default HOLD_MS */
  holdMs?: number;
  /** an item handed back because a replica lost its connection: it runs as a fresh one (../lost-connection.ts) */
  isCleared?: IsCleared;
  /** deliveries forgiven: a replica died holding the item unstarted (../../replica-protocol/forgiven.ts) */
  forgiven?: Forgiveness;
}

/** What a drain did with the items that waited for their batch to fill (`flush`). */
export interface PartialBatch {
  /** how many there were */
  items: number;
  /** how many of them now wait for a rate-limit turn: `handBackWaiting` hands them back, unstarted */
  waitingForTurn: number;
  /** they started at once, as one batch (no rate limit, or a turn was free) */
  started: boolean;
}

interface Item {
  delivery: Delivery;
  settle: Settle;
  attempt: number;
  route: Route;
  value: unknown;
  /** when it arrived, then when its batch's handler was called */
  started: number;
  done: () => void;
  /** ordered: it came back with a count, and runs in a batch of its own (./ordered-line.ts) */
  again: boolean;
  /** its key, when the replica reports the items it holds unstarted (../../replica-protocol/forgiven.ts) */
  key: string | undefined;
}

export function createBatchProcessor(deps: BatchProcessorDeps) {
  const { fn, log, stats } = deps;
  const shutdown = new AbortController();
  // Items filling a batch when suspects start go back to the queue with the batches that wait behind them.
  const { gate, admitted } = suspectAdmission({ ...deps, beforeHandBack: () => collector.flush() });
  const carry: CarryOutDeps = {
    fn,
    version: deps.version,
    publish: deps.publish,
    log,
    shutdown: shutdown.signal,
    ...(deps.onFailure ? { onFailure: deps.onFailure } : {}),
  };
  const runDeps: BatchRunDeps = { fn, handler: deps.handler, publish: deps.publish, log, shutdown: shutdown.signal, onStuck: deps.onStuck };
  let lastDeath = deps.lastDeath;
  /** batches handed to the handler so far (a drain's `flush` tells whether its partial batch started) */
  let batchesStarted = 0;
  /** rateLimit: the batches waiting for their turn, handed back unstarted at drain */
  const turns = deps.waitTurn ? new WaitingTurns(deps.waitTurn) : null;
  const collector = new BatchCollector<Item>(fn.batch.size, fn.batch.windowMs, (items) =>
    fn.ordered
      ? inLine(items)
      : // A batch behind suspects goes back to the queue, unstarted, when they start (../suspects.ts).
        void gate.run(false, () => runItems(items), {
          handBack: async () => void (await Promise.all(items.map((item) => (item.settle.held ? handBack(item) : finishCounted(item, null))))),
        }),
  );

  /** Step 1 and 2 for one delivery, synchronously on arrival; resolves once it is settled. */
  function handle(delivery: Delivery, settle: Settle): Promise<void> {
    const { properties, fields } = delivery;
    const admission = admitted(delivery);
    if (admission.action !== 'move') gate.arrived();
    if (admission.action === 'move') {
      // A suspect waits aside in the retry ladder while fresh items flow (../suspects.ts).
      const death = admission.handedBack ? lastDeath : undefined;
      const aside = { redeliveries: admission.redeliveries, queue: admission.queue, lastDeath: death };
      const task = () => moveAside(delivery, settle, aside, deps.publish);
      return gate.move(
        () => task().catch((err: unknown) => holdAndTryAgain(err, task, held(delivery, settle), deps.holdMs).then(() => undefined)),
        admission.key,
      );
    }
    if (fields.redelivered) stats.count('redelivered');
    const headers = properties.headers ?? {};
    // Past the limit it is dead-lettered without running: its dead letter counts the runs it had.
    const attempt = admission.action === 'dead' ? attemptsBefore(headers, admission.redeliveries) : attemptOf(headers);
    const route = originalRoute(headers, fields);
    return new Promise<void>((done) => {
      stats.enter();
      const again = admission.action === 'run' && admission.again === true;
      const key = admission.action === 'run' ? admission.key : undefined;
      const item: Item = { delivery, settle, attempt, route, value: undefined, started: deps.now(), done, again, key };
      if (admission.action === 'dead') {
        const death = lastDeathOf(headers, admission.handedBack ? lastDeath : undefined);
        return void finish(item, deliveryLimit(admission.redeliveries, fn.redeliveryLimit, death));
      }
      const read = readMessage(delivery.content, properties.contentType, fn, deps.validate, properties.contentEncoding);
      // Invalid JSON, a schema failure, too large: settled on its own, never in a batch.
      if (!read.ok) return void finish(item, read.outcome);
      item.value = read.value;
      if (admission.alone) {
        void gate.run(
          true,
          () => {
            aloneWarning(log, gate, properties.messageId);
            return runItems([item]);
          },
          apartOptions(admission),
        );
      } else {
        collector.add(item);
      }
    });
  }

  /** Steps 3 to 5 for one batch. */
  async function runItems(batch: Item[]): Promise<void> {
    const items = stillHeld(batch);
    if (items.length === 0) return;
    const result = await call(items);
    if (result === null) return;
    for (const item of items) item.settle.handled();
    // Started in one turn: the acks of this batch leave together as one `multiple` ack (../ack-batch.ts).
    await Promise.all(items.map((item, i) => finish(item, result[i]!)));
  }

  /**
   * Requeued at shutdown while it waited behind a suspect, or its connection was lost while it waited
   * for the batch to fill: it is the broker's again (handed out again, to run there), do not run it.
   */
  function stillHeld(batch: Item[]): Item[] {
    return batch.filter((item) => {
      if (!item.settle.held) finishCounted(item, null);
      return item.settle.held;
    });
  }

  /**
   * Step 3 and 4 for held items: one handler call (after the rate limit), and an outcome per item.
   * null: they are settled already: handed back unstarted (the replica drained before their turn),
   * or run again alone after a timeout.
   */
  async function call(items: Item[]): Promise<Outcome[] | null> {
    const run = () => {
      batchesStarted++;
      stats.batch(items.length);
      // Durations count from the handler's call: the wait for the batch to fill is not the handler's time.
      const now = deps.now();
      for (const item of items) item.started = now;
      return runBatch(items, runDeps);
    };
    // With a rate limit the handler is called in the step that admits the batch (its starts are the
    // ones counted); null: the replica drained before the turn came.
    const result = turns
      ? await new Promise<Outcome | null>((resolve) =>
          turns.wait(
            items.length,
            () => void run().then(resolve),
            () => resolve(null),
          ),
        )
      : await run();
    if (result === null) {
      await Promise.all(items.map((item) => handBack(item)));
      return null;
    }
    // Each item's handler time is the batch's, from the handler's call to its result.
    const ended = deps.now();
    for (const item of items) stats.ran(ended - item.started);
    if (runsAgainAlone(result, items.length) && !shutdown.signal.aborted) {
      // A timeout does not say which item hung: failing them all would dead-letter the good items
      // beside a hanging one after their retries. Each runs again alone, at once and side by side
      // (one more timeout at most), and only an item that times out on its own fails its attempt.
      log.warn(
        { size: items.length, err: result.error },
        `batch of ${items.length} timed out; each of its items runs again alone, so that only an item that hangs on its own fails`,
      );
      // In an ordered function one after another: an item that fails alone runs again before the next.
      if (fn.ordered) for (const item of items) await runOrdered([item]);
      else await Promise.all(items.map((item) => runItems([item])));
      return null;
    }
    let outcomes: Outcome[];
    try {
      outcomes = itemOutcomes(items.length, result);
      if (outcomes.some((o) => o.kind !== 'ok')) logFailures(items.length, outcomes);
    } catch (err) {
      // Reading the result must not take the replica down with the whole batch: every item failed.
      const error = toError(err, 'reading the batch handler result failed');
      outcomes = items.map((): Outcome => ({ kind: 'error', error, timedOut: false }));
    }
    return outcomes;
  }

  /** ordered: the batches in line, each started when the one before it is settled (./ordered-line.ts) */
  let line: Promise<void> = Promise.resolve();
  /** ordered: items in line, not yet started, in delivery order (after them: those in the collector) */
  const unstarted = new Set<Item>();
  /** ordered: the replica told the supervisor of the items it holds unstarted behind one that came back */
  let toldUnstarted = false;

  function inLine(items: Item[]): void {
    for (const item of items) unstarted.add(item);
    for (const piece of orderedPieces(items))
      line = line
        .then(() => runOrdered(piece))
        // Never expected (each step settles its items); the line must go on for the batches behind it.
        .catch((err: unknown) => log.error({ err }, 'an ordered batch failed outside its handler'));
  }

  /** Steps 3 to 5 for one batch of an ordered function: a failed item and those after it run again in place. */
  async function runOrdered(batch: Item[]): Promise<void> {
    for (const item of batch) unstarted.delete(item);
    if (toldUnstarted) {
      toldUnstarted = false;
      deps.forgiven?.unstarted([]);
    }
    let items = stillHeld(batch);
    if (items.length === 0) return;
    // The replica stops while they wait in line: they go back to their place in the queue unstarted.
    if (shutdown.signal.aborted) return void (await Promise.all(items.map((item) => handBack(item))));
    if (items[0]!.again && deps.forgiven) {
      // It may be a poison: if it kills the replica, the items held behind it never ran, and are
      // forgiven the delivery the death counts (../../replica-protocol/forgiven.ts). Acks first, so
      // that none of what was settled comes back.
      const behind = [...unstarted, ...collector.pending].filter((item) => item.settle.held);
      if (behind.length > 0) {
        deps.forgiven.unstarted(behind.map((item) => (item.key ??= messageKey(item.delivery))));
        toldUnstarted = true;
      }
      await deps.subscription?.syncAcks?.();
    }
    for (;;) {
      const outcomes = await call(items);
      if (outcomes === null) return;
      for (const item of items) item.settle.handled();
      const settlements = items.map((item, i) => decideSettlement(fn, item.attempt, outcomes[i]!));
      const split = orderedSplit(settlements);
      if (!split) return void (await Promise.all(items.map((item, i) => settleAs(item, () => settlements[i]!))));
      const first = items[split.again[0]!]!;
      const after = split.again.length - 1;
      const withThem = after === 0 ? '' : ` with the ${after === 1 ? 'item' : `${after} items`} after it`;
      log.warn(
        { messageId: first.delivery.properties.messageId, attempt: first.attempt, after },
        `attempt ${first.attempt} of ${fn.retry.attempts} failed; retrying in place in ${split.delayMs} ms${withThem} (ordered)`,
      );
      for (const i of split.failed) {
        deps.onFailure?.(failureNote(items[i]!, 'retried', (settlements[i] as Extract<Settlement, { action: 'requeue' }>).error));
        items[i]!.attempt++;
      }
      await Promise.all(split.now.map((i) => settleAs(items[i]!, () => settlements[i]!)));
      await sleep(split.delayMs, shutdown.signal);
      const again = split.again.map((i) => items[i]!);
      // The replica stops: they go back to their place in the queue (requeued, which the broker counts).
      if (shutdown.signal.aborted) return void (await Promise.all(again.map((item) => (item.settle.held ? handBack(item) : finishCounted(item, null)))));
      items = stillHeld(again);
      if (items.length === 0) return;
    }
  }

  /** Steps 4 and 5 for one item. THE RULE: whatever happens here, this delivery ends settled. */
  function finish(item: Item, outcome: Outcome): Promise<void> {
    return settleAs(item, () => decideSettlement(fn, item.attempt, outcome));
  }

  /** Step 5 for one item, as `decide` says. THE RULE: whatever happens here, this delivery ends settled. */
  async function settleAs(item: Item, decide: () => Settlement): Promise<void> {
    let counted: Counted | null = null;
    try {
      const settlement = decide();
      const task = async () => carryOut(settlement, item, carry);
      const result = await task().catch((err: unknown) => holdAndTryAgain(err, task, held(item.delivery, item.settle), deps.holdMs));
      counted = result === GAVE_BACK ? null : result;
    } catch (err) {
      giveBack(err, held(item.delivery, item.settle));
    } finally {
      finishCounted(item, counted);
    }
  }

  /** The batch never started (the replica drains): each item goes back to the broker unstarted. */
  async function handBack(item: Item): Promise<void> {
    const task = () => handBackUnstarted(item.delivery, item.settle, fn, deps.queueType, deps.publish);
    try {
      await task().catch((err: unknown) => holdAndTryAgain(err, task, held(item.delivery, item.settle), deps.holdMs));
    } finally {
      finishCounted(item, null);
    }
  }

  function finishCounted(item: Item, counted: Counted | null): void {
    stats.leave();
    if (counted) {
      stats.count(counted);
      // A tick of a scheduled batch function: `warren status` and /functions show what became of it.
      const tick = deps.onTick ? scheduledAtOf(item.delivery.properties.headers) : undefined;
      if (tick) deps.onTick!(tick, counted);
    }
    item.done();
  }

  /** A message whose settlement is tried again while it stays in hand (../hold.ts). */
  function held(delivery: Delivery, settle: Settle): Held {
    return { settle, shutdown: shutdown.signal, log, messageId: delivery.properties.messageId };
  }

  function logFailures(size: number, outcomes: Outcome[]): void {
    const failed = outcomes.filter((o) => o.kind === 'error').length;
    const rejected = outcomes.filter((o) => o.kind === 'reject').length;
    const first = outcomes.find((o) => o.kind !== 'ok');
    log.warn(
      { size, failed, rejected, err: first && 'error' in first ? loggableError(first.error) : undefined },
      `batch of ${size}: ${failed} failed, ${rejected} rejected`,
    );
  }

  /** deliveries taken and not yet settled: what the drain requeues when the grace period is over */
  const inFlight = new InFlight();

  return {
    handle,
    /** `handle` without waiting: `done` once the delivery is settled. */
    take(delivery: Delivery, settle: Settle, done?: () => void): void {
      inFlight.add(settle);
      void handle(delivery, settle).then(() => {
        inFlight.delete(settle);
        done?.();
      });
    },
    inFlight: inFlight as InFlightView,
    /**
     * Drain: give back at once every batch still waiting for its rate-limit turn, and any that asks
     * for one from now on (what `flush` hands over, with a rate limit); returns how many items waited.
     */
    handBackWaiting(): number {
      return turns?.close() ?? 0;
    },
    /**
     * Drain: hand the items waiting for their batch to fill to the handler now, as one batch (do not
     * wait out the window). Under a rate limit they start only if a turn is free at once; otherwise
     * they wait for one, and `handBackWaiting` right after hands them back with the others.
     */
    flush(): PartialBatch {
      const items = collector.waiting;
      const [waitingBefore, startedBefore] = [turns?.items ?? 0, batchesStarted];
      collector.flush();
      return { items, waitingForTurn: (turns?.items ?? 0) - waitingBefore, started: batchesStarted > startedBefore };
    },
    abortAll(): void {
      shutdown.abort();
    },
    /** A replica of this function died (the supervisor tells every replica): the reason a message it held carries on. */
    deathSeen(reason: string): void {
      lastDeath = reason;
    },
  };
}
