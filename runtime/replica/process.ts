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
 * path, errors included. It is enforced here: a `MessageRun` ends every delivery either through step
 * 5 or, when anything on the way throws, with a requeue (`giveBack`); `Settle` (./delivery.ts) lets
 * only the first settlement reach the broker; nothing else touches the channel.
 */
import type { Logger } from 'pino';
import type { Context, Handler } from '../index';
import type { FunctionConfig } from '../config/types';
import type { ReplicaStats } from '../replica-protocol/stats';
import { InFlight, type Delivery, type InFlightView, type Settle } from './delivery';
import { attemptOf, attemptsBefore, lastDeathOf, originalRoute, type Route } from './headers';
import { decideSettlement, handlerRan, type Outcome, type Settlement } from './outcome';
import { aloneWarning, apartOptions, suspectAdmission, type Admission, type Forgiveness, type IsCleared, type IsolationGate, type Pausable } from './suspects';
import type { Validate } from './read-message';
import type { Publish } from './handler-context';
import { handlerOptions, startAttempt, type AttemptCall, type AttemptDeps } from './attempt';
import { WaitingTurns, type TakeTurn } from './waiting-turns';
import { carryOut, handBackUnstarted, moveAside, type CarryOutDeps, type Counted, type Delivered } from './carry-out';
import { makeContext } from './handler-context';
import type { LazyAbort } from './lazy-abort';
import type { HandlerOptions } from './run-handler';
import { scheduledAtOf } from '../schedule/outcome';
import { GAVE_BACK, giveBack, holdAndTryAgain, type Held } from './hold';
import { refusal } from './refusal';

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
  stats: Pick<ReplicaStats, 'enter' | 'leave' | 'ran' | 'count'>;
  /** performance.now(): handler durations, and the timeout's start (one clock read for both) */
  now: () => number;
  /** the handler outlived its timeout and ignored ctx.signal: this replica should be recycled */
  onStuck: (reason: string) => void;
  /** a scheduled function's tick was settled (runtime/schedule/outcome.ts) */
  onTick?: (scheduledAt: string, outcome: string) => void;
  /** an attempt failed (./carry-out.ts): the dashboard's recent failures */
  onFailure?: CarryOutDeps['onFailure'];
  /** why this function's last replica died, as the supervisor last told (see `deathSeen`) */
  lastDeath?: string;
  /** calls `start` when a message may start (rateLimit, runtime/ratelimit/), in the step that counts it; absent: at once */
  waitTurn?: TakeTurn;
  /** send the acks the consumer holds back to coalesce them, now (before a suspect runs alone) */
  flushAcks?: () => void;
  /** the replica's subscription, paused while a suspect runs alone (./suspects.ts) */
  subscription?: Pausable;
  /** how long a message whose settlement failed is held and tried again (./hold.ts); default HOLD_MS */
  holdMs?: number;
  /** a message handed back because a replica lost its connection: it runs as a fresh one (./lost-connection.ts) */
  isCleared?: IsCleared;
  /** deliveries forgiven: a replica died holding the message unstarted (../replica-protocol/forgiven.ts) */
  forgiven?: Forgiveness;
}

export function createProcessor(deps: ProcessorDeps) {
  const { fn, log } = deps;
  const shutdown = new AbortController();
  const { gate, admitted } = suspectAdmission(deps);
  /** deliveries taken and not yet ended: what the drain requeues when the grace period is over */
  const inFlight = new InFlight();
  /** rateLimit: the messages waiting for their turn, handed back unstarted at drain */
  const turns = deps.waitTurn ? new WaitingTurns(deps.waitTurn) : null;
  const attemptDeps: AttemptDeps = {
    fn,
    handler: deps.handler,
    validate: deps.validate,
    publish: deps.publish,
    log,
    shutdown: shutdown.signal,
    onStuck: deps.onStuck,
    ...(turns ? { waitTurn: (n: number, start: () => void, handBack: () => void) => turns.wait(n, start, handBack) } : {}),
  };
  const shared: RunShared = {
    deps,
    gate,
    inFlight,
    attempt: attemptDeps,
    handlerOptions: handlerOptions(attemptDeps),
    carry: {
      fn,
      version: deps.version,
      publish: deps.publish,
      log,
      shutdown: shutdown.signal,
      debug: log.isLevelEnabled('debug'),
      ...(deps.onFailure ? { onFailure: deps.onFailure } : {}),
    },
    context: { functionName: fn.name, log, publish: deps.publish },
    lastDeath: deps.lastDeath,
  };

  /**
   * Step 1, admit. Called once per delivery, synchronously on arrival (the gate's order depends on
   * it); `done` is called once the delivery is settled. A fresh message with no suspect about
   * starts right here; the others go through the gate.
   */
  function take(delivery: Delivery, settle: Settle, done?: () => void): void {
    const admission = admitted(delivery);
    if (admission.action !== 'move') gate.arrived();
    inFlight.add(settle);
    if (admission.action === 'run' && !admission.alone && gate.tryEnter()) return new MessageRun(shared, delivery, settle, admission, true, done).start();
    const whole = () => new Promise<void>((ended) => new MessageRun(shared, delivery, settle, admission, false, ended).start());
    // A fresh message behind suspects goes back to the queue when they start; an ordered function has no suspects.
    const back = () => new Promise<void>((ended) => new MessageRun(shared, delivery, settle, admission, false, ended).handBackUnstarted());
    const gated =
      admission.action === 'run'
        ? gate.run(admission.alone, whole, admission.alone ? apartOptions(admission) : { handBack: back })
        : admission.action === 'move'
          ? gate.move(whole, admission.key)
          : whole();
    if (done) void gated.then(done);
  }

  return {
    take,
    /** `take` as a promise that resolves once the delivery is settled. */
    handle(delivery: Delivery, settle: Settle): Promise<void> {
      return new Promise((resolve) => take(delivery, settle, resolve));
    },
    /** deliveries taken and not yet settled */
    inFlight: inFlight as InFlightView,
    /**
     * Drain: give back at once every message still waiting for its rate-limit turn, and any that asks
     * for one from now on; returns how many waited. The ones already running finish.
     */
    handBackWaiting(): number {
      return turns?.close() ?? 0;
    },
    /** Abort every running handler's ctx.signal (shutdown). */
    abortAll(): void {
      shutdown.abort();
    },
    /** A replica of this function died (the supervisor tells every replica): the reason a message it held carries on. */
    deathSeen(reason: string): void {
      shared.lastDeath = reason;
    },
  };
}

/** What every message's run of one processor shares. */
interface RunShared {
  deps: ProcessorDeps;
  gate: IsolationGate;
  inFlight: InFlight;
  attempt: AttemptDeps;
  handlerOptions: HandlerOptions;
  carry: CarryOutDeps;
  context: Parameters<typeof makeContext>[3];
  lastDeath: string | undefined;
}

/**
 * Steps 2 to 5 for one admitted delivery, as the state of that one message: it is the handler's
 * call (./run-handler.ts) and what carry-out needs, so a message costs one object, not a chain of
 * promises. THE RULE (see the top of this file): whatever happens, `end` runs once, settled.
 */
class MessageRun implements AttemptCall, Delivered {
  readonly attempt: number;
  /** when it started, then (under a rate limit) when its turn came: its handler time counts from there */
  private started = 0;
  private timed: boolean;
  #route: Route | undefined;

  constructor(
    private readonly shared: RunShared,
    readonly delivery: Delivery,
    readonly settle: Settle,
    private readonly admission: Admission,
    /** counted as running by the gate's `tryEnter`: leaves it at the end */
    private readonly entered: boolean,
    private readonly ended: (() => void) | undefined,
  ) {
    // Past the limit it is dead-lettered without running: its dead letter counts the runs it had.
    this.attempt = admission.action === 'dead' ? attemptsBefore(delivery.properties.headers, admission.redeliveries) : attemptOf(delivery.properties.headers);
    this.timed = admission.action !== 'move';
  }

  get route(): Route {
    return (this.#route ??= originalRoute(this.delivery.properties.headers, this.delivery.fields));
  }

  start(): void {
    const { shared, delivery, admission } = this;
    const { stats, log } = shared.deps;
    if (this.timed) {
      stats.enter();
      this.started = shared.deps.now();
    }
    // Settled already, or it waited behind a suspect and its connection was lost meanwhile: it is the
    // broker's again (handed out again, to run there), do not run it here. One that entered at once
    // came on a live channel, in this very step.
    if (this.entered ? this.settle.settled : !this.settle.held) return this.end(null);
    if (delivery.fields.redelivered) stats.count('redelivered');
    try {
      if (admission.action === 'move') return this.moveAside(admission);
      if (admission.action === 'dead') {
        const death = lastDeathOf(delivery.properties.headers, admission.handedBack ? shared.lastDeath : undefined);
        if (death) this.lastDeath = death;
        return this.carry(decideSettlement(shared.deps.fn, this.attempt, deliveryLimit(admission.redeliveries, shared.deps.fn.redeliveryLimit, death)));
      }
      if (admission.alone) aloneWarning(log, shared.gate, delivery.properties.messageId);
      startAttempt(delivery, shared.attempt, shared.handlerOptions, this, this.started);
    } catch (err) {
      this.giveBack(err);
    }
  }

  /** Set for a delivery-limit dead letter: why the last replica that held it died. */
  lastDeath?: string;

  context(abort: LazyAbort): Context {
    return makeContext(this.delivery, this.attempt, abort, this.shared.context);
  }

  /**
   * Its rate-limit turn came. If its connection was lost meanwhile, the broker hands it out again and
   * it is not run here (true). Otherwise its handler starts now: its time counts from now, not from the wait.
   */
  gone(): boolean {
    if (this.settle.held) {
      this.started = this.shared.deps.now();
      return false;
    }
    this.end(null);
    return true;
  }

  /** Suspects start while it waits behind them (./suspects.ts): it goes back to the queue, never counted as running. */
  handBackUnstarted(): void {
    this.timed = false;
    if (!this.settle.held) return this.end(null);
    this.handBack();
  }

  /** The replica drains before this message's rate-limit turn came: it goes back unstarted. */
  handBack(): void {
    const { deps } = this.shared;
    const task = () => handBackUnstarted(this.delivery, this.settle, deps.fn, deps.queueType, deps.publish);
    task().then(
      () => this.end(null),
      (err: unknown) => this.tryAgain(err, task, () => this.end(null)),
    );
  }

  /** Step 4, decide, then step 5. */
  done(outcome: Outcome): void {
    const { deps } = this.shared;
    if (handlerRan(outcome)) deps.stats.ran(deps.now() - this.started);
    this.settle.handled();
    try {
      this.carry(decideSettlement(deps.fn, this.attempt, outcome));
    } catch (err) {
      this.giveBack(err);
    }
  }

  private carry(settlement: Settlement): void {
    const counted = carryOut(settlement, this, this.shared.carry);
    if (typeof counted === 'string') return this.end(counted);
    counted.then(
      (c) => this.end(c),
      (err: unknown) =>
        this.tryAgain(
          err,
          async () => carryOut(settlement, this, this.shared.carry),
          (c) => this.end(c),
        ),
    );
  }

  private moveAside(admission: Extract<Admission, { action: 'move' }>): void {
    const { shared, delivery } = this;
    const death = admission.handedBack ? shared.lastDeath : undefined;
    const task = () =>
      moveAside(delivery, this.settle, { redeliveries: admission.redeliveries, queue: admission.queue, lastDeath: death }, shared.deps.publish);
    const moved = () => {
      shared.deps.log.warn(
        { messageId: delivery.properties.messageId, redeliveries: admission.redeliveries, waitsIn: admission.queue, lastDeath: death },
        'a message handed back by the broker (its replica died, hung or lost its connection) waits aside; fresh messages go first',
      );
      this.end(null);
    };
    task().then(moved, (err: unknown) => this.tryAgain(err, task, moved));
  }

  /**
   * A publish that must come before the settlement failed (./hold.ts): the message stays in hand and
   * `task` is tried again; `then` once it succeeded. Given back in the end, it ends uncounted.
   */
  private tryAgain<T>(err: unknown, task: () => Promise<T>, then: (value: T) => void): void {
    void holdAndTryAgain(err, task, this.held(), this.shared.deps.holdMs).then((result) => {
      if (result === GAVE_BACK) return this.end(null);
      try {
        then(result);
      } catch (thrown) {
        this.giveBack(thrown);
      }
    });
  }

  /** Something on the way out threw: leave the message to the broker. */
  private giveBack(err: unknown): void {
    giveBack(err, this.held());
    this.end(null);
  }

  private held(): Held {
    const { carry } = this.shared;
    return { settle: this.settle, shutdown: carry.shutdown, log: carry.log, messageId: this.delivery.properties.messageId };
  }

  private end(counted: Counted | null): void {
    const { deps, gate, inFlight } = this.shared;
    if (this.timed) deps.stats.leave();
    if (counted) {
      deps.stats.count(counted);
      const tick = deps.onTick ? scheduledAtOf(this.delivery.properties.headers) : undefined;
      if (tick) deps.onTick!(tick, counted);
    }
    inFlight.delete(this.settle);
    if (this.entered) gate.leave();
    this.ended?.();
  }
}

export type Processor = ReturnType<typeof createProcessor>;

export function deliveryLimit(redeliveries: number, limit: number, lastDeath?: string): Outcome {
  const why = lastDeath ? `; the last replica died of: ${lastDeath}` : '';
  return {
    kind: 'delivery-limit',
    error: refusal(
      `delivered ${redeliveries} times without being settled (a replica died or hung while handling it); redeliveryLimit is ${limit}${why}`,
      'dead-lettered by Warren when the redelivery limit was reached',
    ),
  };
}
