/**
 * What `runtime/replica/` means: one replica is one running copy of a function, in its own worker
 * thread (./thread.ts is the thread's entry; `worker` is only ever Node's word for that thread). A
 * replica's `consumer` (./consumer.ts) is its AMQP subscription, its `publisher` (./publisher.ts) its
 * confirm channel. The main thread's side of a replica is runtime/supervisor/replica.ts; what the two
 * sides say to each other is runtime/replica-protocol/.
 *
 * This file is the path of one message through a replica, as a recipe of named steps:
 *
 *   1. admit             ./suspects.ts       pure: run, run alone, wait aside, or dead (delivery limit)
 *   2. decode, validate  ./read-message.ts   pure: maxBodySize, content type, the function's schema
 *   3. run the handler   ./run-handler.ts    timeout, ctx.signal, stuck handlers
 *   4. decide            ./outcome.ts        pure: ack (with output), retry at delay d, requeue, dead, drop
 *   5. carry out         ./carry-out.ts      publish with a confirm, then settle
 *
 * THE RULE: every delivered message is settled exactly once (ack, or nack with requeue), on every
 * path, errors included. It is enforced here: `settleOnce` ends every delivery either through step 5
 * or, when anything on the way throws, with a requeue; `Settle` (./delivery.ts) lets only the first
 * settlement reach the broker; nothing else touches the channel.
 */
import type { Logger } from 'pino';
import type { Handler } from '../index';
import type { FunctionConfig } from '../config/types';
import type { ReplicaStats } from '../replica-protocol/stats';
import type { Delivery, Settle } from './delivery';
import { attemptOf, lastDeathOf, originalRoute } from './headers';
import { decideSettlement, type Outcome } from './outcome';
import { admit, IsolationGate, type Admission } from './suspects';
import type { Validate } from './read-message';
import type { Publish } from './handler-context';
import { attemptMessage, type AttemptDeps } from './attempt';
import { carryOut, moveAside, type CarryOutDeps, type Counted } from './carry-out';
import { scheduledAtOf } from '../schedule/outcome';

export type { Delivery, MessageProperties } from './delivery';
export { Settle } from './delivery';
export type { Publish } from './handler-context';

export interface ProcessorDeps {
  fn: FunctionConfig;
  version: string;
  queueType: 'quorum' | 'classic';
  handler: Handler;
  /** null when the function has no schema */
  validate: Validate;
  publish: Publish;
  log: Logger;
  stats: Pick<ReplicaStats, 'enter' | 'leave' | 'count'>;
  now: () => number;
  /** the handler outlived its timeout and ignored ctx.signal: this replica should be recycled */
  onStuck: (reason: string) => void;
  /** a scheduled function's tick was settled (runtime/schedule/outcome.ts) */
  onTick?: (scheduledAt: string, outcome: string) => void;
  /** why this function's last replica died, as the supervisor last told (see `deathSeen`) */
  lastDeath?: string;
  /** resolves when a message may start (rateLimit, runtime/ratelimit/); absent: at once */
  waitTurn?: (n: number) => Promise<void>;
}

export function createProcessor(deps: ProcessorDeps) {
  const { fn, log, stats } = deps;
  const shutdown = new AbortController();
  const gate = new IsolationGate();
  let lastDeath = deps.lastDeath;
  const carry: CarryOutDeps = { fn, version: deps.version, publish: deps.publish, log, shutdown: shutdown.signal };
  const attemptDeps: AttemptDeps = {
    fn,
    handler: deps.handler,
    validate: deps.validate,
    publish: deps.publish,
    log,
    shutdown: shutdown.signal,
    onStuck: deps.onStuck,
    ...(deps.waitTurn ? { waitTurn: deps.waitTurn } : {}),
  };
  /** Step 1, admit. Called once per delivery, synchronously on arrival (the gate's order depends on it). */
  function handle(delivery: Delivery, settle: Settle): Promise<void> {
    const facts = { headers: delivery.properties.headers, redelivered: delivery.fields.redelivered, queueType: deps.queueType };
    gate.arrived();
    const admission = admit(facts, fn, { isolating: gate.isolating });
    if (admission.action === 'run') return gate.run(admission.alone, () => settleOnce(delivery, settle, admission));
    if (admission.action === 'move') return gate.move(() => settleOnce(delivery, settle, admission));
    return settleOnce(delivery, settle, admission);
  }

  /** THE RULE (see the top of this file): whatever happens in `run`, this delivery ends settled. */
  async function settleOnce(delivery: Delivery, settle: Settle, admission: Admission): Promise<void> {
    const started = deps.now();
    const timed = admission.action !== 'move';
    if (timed) stats.enter();
    let counted: Counted | null = null;
    try {
      counted = await run(delivery, settle, admission);
    } catch (err) {
      // A publish or ack failed on the way out: leave the message to the broker.
      log.error({ err, messageId: delivery.properties.messageId }, 'could not settle the message; it is returned to the queue');
      await settle.requeue().catch(() => undefined);
    } finally {
      if (timed) stats.leave(deps.now() - started);
      if (counted) stats.count(counted);
      const tick = counted && deps.onTick ? scheduledAtOf(delivery.properties.headers) : undefined;
      if (tick) deps.onTick!(tick, counted!);
    }
  }

  /** Steps 2 to 5 for one admitted delivery; returns what to count, null when nothing ran. */
  async function run(delivery: Delivery, settle: Settle, admission: Admission): Promise<Counted | null> {
    const { properties, fields } = delivery;
    // Requeued at shutdown while it waited behind a suspect: it is the broker's again, do not run it.
    if (settle.settled) return null;
    if (fields.redelivered) stats.count('redelivered');
    if (admission.action === 'move') {
      const death = admission.handedBack ? lastDeath : undefined;
      await moveAside(delivery, settle, { redeliveries: admission.redeliveries, queue: admission.queue, lastDeath: death }, deps.publish);
      log.warn(
        { messageId: properties.messageId, redeliveries: admission.redeliveries, waitsIn: admission.queue, lastDeath: death },
        'a message a replica died or hung on waits aside; fresh messages go first',
      );
      return null;
    }
    if (admission.action === 'run' && admission.alone)
      log.warn({ messageId: properties.messageId }, 'running a message alone: it was in flight when a replica died or was requeued');
    const headers = properties.headers ?? {};
    const attempt = attemptOf(headers);
    const route = originalRoute(headers, fields);
    if (admission.action === 'dead') {
      const death = lastDeathOf(headers, admission.handedBack ? lastDeath : undefined);
      const settlement = decideSettlement(fn, attempt, deliveryLimit(admission.redeliveries, fn.redeliveryLimit, death));
      return carryOut(settlement, { delivery, settle, attempt, route, ...(death ? { lastDeath: death } : {}) }, carry);
    }
    const settlement = decideSettlement(fn, attempt, await attemptMessage(delivery, attempt, attemptDeps));
    return carryOut(settlement, { delivery, settle, attempt, route }, carry);
  }

  return {
    handle,
    /** Abort every running handler's ctx.signal (shutdown). */
    abortAll(): void {
      shutdown.abort();
    },
    /** A replica of this function died (the supervisor tells every replica): the reason a message it held carries on. */
    deathSeen(reason: string): void {
      lastDeath = reason;
    },
  };
}

export type Processor = ReturnType<typeof createProcessor>;

export function deliveryLimit(redeliveries: number, limit: number, lastDeath?: string): Outcome {
  const why = lastDeath ? `; the last replica died of: ${lastDeath}` : '';
  return {
    kind: 'delivery-limit',
    error: new Error(`delivered ${redeliveries} times without being settled (a replica died or hung while handling it); redeliveryLimit is ${limit}${why}`),
  };
}
