/**
 * Messages that a replica died or hung on ("suspects"), and how to keep them from starving their
 * function while the count that dead-letters them stays in the broker.
 *
 * A replica that dies (crash, process.exit, out of memory, a blocked event loop ended by the
 * watchdog) returns every unacked message it held, and the broker hands them out again first. Run at
 * once, the message that killed it would kill the next replica too, and everything behind it would
 * wait until the redelivery limit dead-letters it. So a message the broker hands back is never run
 * at once: it waits aside (copied to a retry queue with its count of unsettled deliveries in
 * `x-warren-redeliveries`, then acked) while fresh messages flow, and runs when it comes back.
 *
 * When it comes back it may still be the killer, so it runs apart: it waits for the messages already
 * running to finish, the fresh messages that arrived meanwhile go back to the queue unstarted (a copy
 * at its back, uncounted: held here, a death would charge them), and only suspects run, together in a group whose
 * size shrinks with their count (`groupSize`): a replica killed from outside (`kill -9`, a node lost)
 * returns every message it held, and they all run again together at once; a message that keeps
 * killing replicas takes fewer and fewer with it, and at its last chance (its count at
 * `redeliveryLimit`) it runs alone. So a message that never killed anything is never dead-lettered
 * for the company it kept: at its own last chance it runs alone, and succeeds. Suspects arriving
 * while a group runs, or past its size, are moved aside again. Past `redeliveryLimit` Warren
 * dead-letters it with its own headers, before the broker's own `x-delivery-limit` (set a margin
 * above: see runtime/topology/plan.ts) would, so every such dead letter says what Warren knew.
 *
 * A replica that only lost its connection (a broker restart, a cluster node gone) is not evidence
 * against what it held: those messages come back cleared and run as fresh ones (./lost-connection.ts),
 * and so, for a while after the loss, does any message handed back for the first time: deliveries
 * that were on their way then, which no replica saw (../replica-protocol/loss-grace.ts).
 *
 * Ordered functions are the exception: the order rule wins over the starvation rule. A message
 * handed back runs again in place, since anything else would let later messages overtake it; the
 * function stalls on it (one death per delivery) until the limit dead-letters it.
 *
 * The decision is pure; `IsolationGate` carries out "apart" for one replica.
 */
import type { FunctionConfig } from '../config/types';
import { effectivePrefetch } from '../config/prefetch';
import { retryLadder, retryQueueName } from '../topology/names';
import { countOf as count, H } from './headers';
import type { Delivery } from './delivery';
import { messageKey } from './lost-connection';
import type { AfterDeath, ForgivenDeliveries } from '../replica-protocol/forgiven';

export type QueueKind = 'quorum' | 'classic';

export interface DeliveryFacts {
  headers: Record<string, unknown> | undefined;
  redelivered: boolean;
  queueType: QueueKind;
  /** deliveries not counted against it: the replica that died holding it had not started it (../replica-protocol/forgiven.ts) */
  forgiven?: number;
}

/** Deliveries of this message that ended without a settlement (a replica died, a requeue). */
export function priorDeliveries({ headers, redelivered, queueType, forgiven = 0 }: DeliveryFacts): number {
  const carried = count(headers?.[H.redeliveries]);
  const counted = queueType === 'quorum' ? carried + count(headers?.['x-delivery-count']) : carried + (redelivered ? 1 : 0);
  return Math.max(0, counted - forgiven);
}

/** This delivery itself ended a delivery before without a settlement: the broker handed it back. */
export function handedBack({ headers, redelivered, queueType }: DeliveryFacts): boolean {
  return queueType === 'quorum' ? count(headers?.['x-delivery-count']) > 0 : redelivered;
}

/**
 * An `x-delivery-count` the broker did not write is removed on arrival: a quorum queue writes its own
 * on every redelivery (and sets `redelivered`), a classic queue never writes one. One that a producer
 * sent, or that a shovel copied from another quorum queue, counts nothing of this message: believed,
 * it had a fresh message dead-lettered as "delivered 50 times" without running once.
 */
export function dropForeignCount({ headers, redelivered, queueType }: DeliveryFacts): void {
  if (headers?.['x-delivery-count'] === undefined || (redelivered && queueType === 'quorum')) return;
  delete headers['x-delivery-count'];
}

export type Admission =
  /** past the redelivery limit: dead-letter with reason delivery-limit, without running it */
  | { action: 'dead'; redeliveries: number; handedBack: boolean }
  /** copy to `queue` (a retry queue) with `x-warren-redeliveries: redeliveries`, ack this copy */
  | { action: 'move'; redeliveries: number; queue: string; handedBack: boolean; key?: string }
  /**
   * run the handler; `alone` (apart from fresh messages) when it may be what killed a replica, with
   * at most `group` suspects together; `key`, its key, when the replica reports the suspects it holds.
   * `again`: an ordered function's message that came back with a count, run in place (a batch
   * function runs it in a batch of its own: ./batch/ordered-line.ts)
   */
  | { action: 'run'; alone: boolean; group?: number; key?: string; again?: boolean };

/** `prefetch`: the replica's own (runtime/config/prefetch.ts), the most a death can hand back at once */
export type AdmitConfig = Pick<FunctionConfig, 'queue' | 'redeliveryLimit' | 'ordered' | 'retry' | 'prefetch'>;

/** Where suspects run: whether one that may run `size` together can join now (`IsolationGate`). */
export interface SuspectRoom {
  joinable(size: number): boolean;
}

export function admit(facts: DeliveryFacts, fn: AdmitConfig, room: SuspectRoom): Admission {
  // Nearly every message: a first delivery that carries no count at all runs at once.
  const { headers } = facts;
  if (headers?.['x-delivery-count'] === undefined && headers?.[H.redeliveries] === undefined && !(facts.redelivered && facts.queueType === 'classic'))
    return RUN;
  const prior = priorDeliveries(facts);
  const back = handedBack(facts);
  // Warren decides at redeliveryLimit; the broker's x-delivery-limit is a margin above, a backstop.
  if (prior > fn.redeliveryLimit) return { action: 'dead', redeliveries: prior, handedBack: back };
  // The order rule wins: a message handed back runs again in place (nothing may overtake it), and
  // ordered functions take one message (or one batch) at a time, so nothing else runs beside it.
  if (fn.ordered) return prior > 0 ? RUN_AGAIN : RUN;
  // Handed back by the broker (a replica died or hung on it, or it was requeued): wait aside while
  // fresh messages flow. A classic queue keeps no count, so this is also where it is written down.
  if (back) return { action: 'move', redeliveries: prior, queue: holdingQueue(fn, prior), handedBack: true };
  if (prior === 0) return RUN;
  // Back from waiting aside: run apart with the suspects that came with it, or wait aside once more
  // while other suspects run.
  const group = groupSize(prior, fn, headers?.[H.lastDeath] !== undefined);
  if (!room.joinable(group)) return { action: 'move', redeliveries: prior, queue: holdingQueue(fn, prior), handedBack: false };
  return { action: 'run', alone: true, group };
}

/** The admission without data, made once (admit runs for every message). */
const RUN: Admission = Object.freeze({ action: 'run', alone: false });
const RUN_AGAIN: Admission = Object.freeze({ action: 'run', alone: false, again: true });

/**
 * How many suspects may run together when their count is `prior`: the whole prefetch at the first
 * return (what one death hands back), shrinking geometrically with each death to one at the last
 * chance (`prior` = `redeliveryLimit`). A death in a group counts against every member, so only the
 * last chance must be alone: then only the killer dies past the limit.
 *
 * `replicaDied`: the message carries the reason a replica died holding it (a crash, an exit, out of
 * memory, a hang), so one of those it came with probably killed it; they start one step smaller. A
 * message without one came back from a runtime killed or restarted from outside, where most likely
 * nothing among them is to blame.
 */
export function groupSize(prior: number, fn: Pick<FunctionConfig, 'redeliveryLimit' | 'prefetch'>, replicaDied = false): number {
  const step = prior + (replicaDied ? 1 : 0);
  if (step >= fn.redeliveryLimit || fn.prefetch <= 1) return 1;
  const left = (fn.redeliveryLimit - step) / (fn.redeliveryLimit - 1);
  return Math.max(1, Math.floor(fn.prefetch ** left));
}

/**
 * Whether a delivery is cleared: a replica lost its connection holding it (./lost-connection.ts), or
 * while it was on its way (`facts`, the ones `admit` read: ../replica-protocol/loss-grace.ts).
 */
export type IsCleared = (delivery: Delivery, facts: DeliveryFacts) => boolean;

/**
 * Handed back once in all, the one unsettled delivery before this one: what a lost connection
 * returns that its replica never saw (../replica-protocol/loss-grace.ts). A message counted twice is
 * not.
 */
export function firstReturn(facts: DeliveryFacts): boolean {
  return priorDeliveries(facts) === 1;
}

/**
 * A message that would wait aside or run alone, but that a lost connection handed back, runs as a
 * fresh message. Past the redelivery limit it is still dead-lettered: a message that keeps coming back
 * is not run for ever, whatever the reason.
 */
export function clearedAdmission(admission: Admission, delivery: Delivery, facts: DeliveryFacts, isCleared: IsCleared | undefined): Admission {
  if (!isCleared || admission.action === 'dead' || (admission.action === 'run' && !admission.alone)) return admission;
  return isCleared(delivery, facts) ? RUN : admission;
}

/**
 * Where a suspect waits: the retry ladder's queue for its count (1 s, 2 s, 4 s, … with the defaults),
 * so a message that keeps killing replicas comes back less and less often; without a retry ladder,
 * the back of the function's own queue.
 */
export function holdingQueue(fn: Pick<FunctionConfig, 'queue' | 'retry'>, redeliveries: number): string {
  const ladder = retryLadder(fn.retry);
  if (ladder.length === 0) return fn.queue;
  const step = Math.min(Math.max(redeliveries, 1), ladder.length) - 1;
  return retryQueueName(fn.queue, ladder[step]!);
}

/**
 * A replica that dies returns its messages together, and they arrive together at the next one: a
 * suspect starts only once this burst is over (nothing arrived for QUIET_MS) and every move finished,
 * so what was delivered beside it is out of this replica's hands before it can kill it.
 */
const QUIET_MS = 50;

/**
 * What a replica's subscription does around a suspect running alone. `pause` stops the broker's
 * deliveries (a basic.cancel) and resolves once none can arrive any more: a suspect that blocks the
 * event loop cannot move aside what the broker keeps delivering meanwhile, and every message that
 * lands in the blocked replica comes back counted against it, and again at its next turn, until the
 * redelivery limit dead-letters messages that never ran. `resume` consumes again. `syncAcks` sends
 * the acks held back to coalesce them and resolves once the broker has them.
 */
export interface Pausable {
  pause(): Promise<void>;
  resume(): void;
  syncAcks?(): Promise<void>;
}

/** Where the suspects' warnings go (a pino logger). */
type WarnLog = { warn(fields: object, msg: string): void };

/** What a replica's processor hands `suspectAdmission`: its function, and its subscription's parts. */
export interface AdmissionDeps {
  fn: FunctionConfig;
  log: WarnLog;
  queueType: QueueKind;
  flushAcks?: () => void;
  subscription?: Pausable;
  isCleared?: IsCleared;
  /** deliveries forgiven (../replica-protocol/forgiven.ts); `forgave` is told of each one used, `unstarted` of the suspects held unstarted */
  forgiven?: Forgiveness;
  /** just before the fresh messages behind a group are handed back: a batch function's collector hands over what it holds */
  beforeHandBack?: () => void;
  /** which replicas of the function run suspects apart now (../replica-protocol/isolation-slots.ts) */
  isolation?: Isolation | null;
}

/** Where a replica says it runs suspects apart, and asks whether it may start to (../replica-protocol/isolation-slots.ts). */
export interface Isolation {
  mayStart(): boolean;
  set(running: boolean): void;
}

/** What a replica's processor does about forgiven deliveries (../replica-protocol/forgiven.ts). */
export interface Forgiveness {
  readonly deliveries: Pick<ForgivenDeliveries, 'size' | 'take'>;
  /** this replica replaces one that died: which suspects handed back to it are forgiven a delivery */
  readonly afterDeath: Pick<AfterDeath, 'open' | 'forgives'>;
  /** this replica counted one delivery of `key` fewer: `named` when it used a forgiven delivery of that key */
  forgave(key: string, named: boolean): void;
  /** the suspects it holds unstarted, on each change ([] once they start) */
  unstarted(keys: readonly string[]): void;
  /**
   * the messages it is moving aside (copy, confirm, ack), on each change: a replica that dies meanwhile
   * hands them back counted though they never ran there, and some of them came back dead-lettered as
   * `delivery-limit` without ever running. Forgiven like the unstarted suspects.
   */
  moving?(keys: readonly string[]): void;
  /** a message with a count is admitted to run here */
  runs(key: string): void;
}

/**
 * Step 1 for one replica, shared by the single-message and the batch processor: its gate, and
 * `admitted(delivery)`, called once per delivery on arrival (a count the broker did not write
 * dropped, then `admit` at the replica's own prefetch, then what a lost connection cleared).
 */
export function suspectAdmission(deps: AdmissionDeps): { gate: IsolationGate; admitted(delivery: Delivery): Admission } {
  const forgiven = deps.forgiven;
  const gate = new IsolationGate(
    Date.now,
    deps.flushAcks,
    deps.subscription ?? null,
    (members) => apartWarning(deps.log, members),
    forgiven ? (keys) => forgiven.unstarted(keys) : null,
    deps.beforeHandBack,
    forgiven?.moving ? (keys) => forgiven.moving!(keys) : null,
    deps.isolation ?? null,
  );
  const fn = { ...deps.fn, prefetch: effectivePrefetch(deps.fn).prefetch };
  return {
    gate,
    admitted(delivery: Delivery): Admission {
      const facts: DeliveryFacts = { headers: delivery.properties.headers, redelivered: delivery.fields.redelivered, queueType: deps.queueType };
      dropForeignCount(facts);
      const { headers } = facts;
      // Fresh, with no count at all: nearly every message, and nothing below concerns it.
      if (!forgiven || (headers?.['x-delivery-count'] === undefined && headers?.[H.redeliveries] === undefined && !facts.redelivered))
        return clearedAdmission(admit(facts, fn, gate), delivery, facts, deps.isCleared);
      const key = messageKey(delivery);
      // One return is one delivery counted: at most one forgiven.
      if (handedBack(facts)) {
        if (forgiven.deliveries.size > 0 && forgiven.deliveries.take(key)) {
          facts.forgiven = 1;
          forgiven.forgave(key, true);
        } else if (forgiven.afterDeath.open && priorDeliveries(facts) >= 2 && forgiven.afterDeath.forgives(key)) {
          facts.forgiven = 1;
          forgiven.forgave(key, false);
        }
      }
      const admission = clearedAdmission(admit(facts, fn, gate), delivery, facts, deps.isCleared);
      if (admission.action === 'move') return { ...admission, key };
      if (admission.action !== 'run') return admission;
      if (priorDeliveries(facts) > 0) forgiven.runs(key);
      return admission.alone || admission.again ? { ...admission, key } : admission;
    },
  };
}

/** `IsolationGate.run`'s options for a suspect admitted to run apart: its group's size, and its key to report while it waits. */
export function apartOptions(admission: Extract<Admission, { action: 'run' }>): RunOptions<never> {
  return { ...(admission.group ? { size: admission.group } : {}), ...(admission.key !== undefined ? { key: admission.key } : {}) };
}

/** Said once for a group of suspects that starts together (one alone is named where it runs). */
export function apartWarning(log: WarnLog, members: number): void {
  if (members > 1)
    log.warn(
      { count: members },
      `running ${members} messages together, apart from fresh ones: they were in flight when a replica died, hung or lost its connection`,
    );
}

/** Said for a suspect that runs alone, where it runs (the single-message and the batch processor). */
export function aloneWarning(log: WarnLog, gate: IsolationGate, messageId: string | undefined): void {
  if (gate.apart === 1) log.warn({ messageId }, 'running a message alone: it was in flight when a replica died, hung or lost its connection');
}

/** Suspects running apart together on one replica (`IsolationGate`). */
interface Group {
  /** the most that may join: the smallest `groupSize` of its members */
  cap: number;
  members: number;
  /** false while it waits for the burst to end; then no one joins any more */
  started: boolean;
  /** resolves when the members may run */
  ready: Promise<void>;
  /** the members' keys, given (`RunOptions.key`) while they wait to start */
  keys: string[];
}

export interface RunOptions<T> {
  /** a suspect: the most that may run together with it (`groupSize`) */
  size?: number;
  /** a fresh message: how to hand it back to the queue, unstarted, when the suspects before it start */
  handBack?: () => Promise<T>;
  /** a suspect: its key (../replica/lost-connection.ts `messageKey`), reported while it waits to start */
  key?: string;
}

/** A fresh message waiting behind a gathering group; settled once it looked again or was told to go back. */
interface Behind {
  settled: boolean;
  resolve: (handBack: boolean) => void;
}

/** Runs suspects apart, in a group, on one replica; everything else runs side by side up to the prefetch. */
export class IsolationGate implements SuspectRoom {
  private running = 0;
  private group: Group | null = null;
  private moving = 0;
  /** deliveries so far: a count, not a clock, so an arrival costs no clock read (a suspect reads the clock when it changes) */
  private arrivals = 0;
  private waiting: Array<() => void> = [];
  /** fresh messages waiting behind the gathering group that can be handed back when it starts (`run`) */
  private behind: Behind[] = [];
  /** the members of the group that started last */
  private together = 0;

  constructor(
    private readonly now: () => number = Date.now,
    /** just before suspects start, and after each of a group ends: send the acks of what finished (./ack-batch.ts) */
    private readonly flushAcks: () => void = () => undefined,
    /** the replica's subscription, paused while suspects run */
    private readonly subscription: Pausable | null = null,
    /** a group starts, with this many members */
    private readonly onStart: (members: number) => void = () => undefined,
    /** the keys of the suspects held unstarted in the gathering group, on each change ([] once it starts) */
    private readonly onUnstarted: ((keys: readonly string[]) => void) | null = null,
    /** before the fresh messages behind the group are handed back: fresh ones held elsewhere join them (`run(false, …, { handBack })`) */
    private readonly beforeHandBack: () => void = () => undefined,
    /** the keys of the messages being moved aside, on each change (`move`) */
    private readonly onMoving: ((keys: readonly string[]) => void) | null = null,
    /** the function's other replicas running suspects apart: a group starts only while one of them takes fresh messages */
    private readonly isolation: Isolation | null = null,
  ) {}

  /** the keys of the moves in progress that have one */
  private movingKeys: string[] = [];

  /**
   * Every delivery this replica holds, on arrival. Not one it moves aside: `move` counts those until
   * they are out of its hands. Counted too, the suspects bouncing off an isolating replica (after a
   * broker restart hands back every message in flight, hundreds of them) kept the burst from ever
   * ending: each suspect waited for a quiet that the others' returns broke, and they cycled through
   * the retry queue about two a second.
   */
  arrived(): void {
    this.arrivals++;
  }

  /** A move in progress (see `admit`); the suspect waits for it. `key`: reported while it moves (`onMoving`). */
  async move<T>(task: () => Promise<T>, key?: string): Promise<T> {
    this.moving++;
    const told = key !== undefined && this.onMoving !== null;
    if (told) {
      this.movingKeys.push(key);
      this.onMoving!(this.movingKeys);
    }
    try {
      return await task();
    } finally {
      this.moving--;
      if (told) {
        this.movingKeys.splice(this.movingKeys.indexOf(key), 1);
        this.onMoving!(this.movingKeys);
      }
      this.wake();
    }
  }

  /** true while suspects wait or run: fresh messages wait, and go back to the queue when the suspects start. */
  get isolating(): boolean {
    return this.group !== null;
  }

  /** How many suspects run together in the group that started last: 1 is alone. */
  get apart(): number {
    return this.together;
  }

  /** A suspect that may run `size` together can join: no group yet, or one still gathering with room. */
  joinable(size: number): boolean {
    const group = this.group;
    // A new group only while another replica of the function takes fresh messages: else it waits aside once more.
    if (group === null) return this.isolation?.mayStart() ?? true;
    return !group.started && group.members < Math.min(group.cap, size);
  }

  /**
   * Must be called synchronously on arrival, so the next delivery already sees `isolating`. A suspect
   * (`alone`) joins the gathering group, after `joinable(size)` said it may.
   */
  async run<T>(alone: boolean, task: () => Promise<T>, { size = 1, handBack, key }: RunOptions<T> = {}): Promise<T> {
    if (!alone) {
      while (this.group) {
        if (!handBack || this.group.started) {
          await this.change();
          continue;
        }
        if (!(await this.waitBehind())) continue;
        // Handed back as the group starts: counted as moving (by `gather`) until it is out of this replica's hands.
        try {
          return await handBack();
        } finally {
          this.moving--;
          this.wake();
        }
      }
      this.running++;
      try {
        return await task();
      } finally {
        this.running--;
        this.wake();
      }
    }
    let group = this.group;
    if (!group) {
      const fresh: Group = { cap: size, members: 0, started: false, ready: Promise.resolve(), keys: [] };
      this.group = group = fresh;
      this.isolation?.set(true);
      fresh.ready = this.gather(fresh);
    }
    group.cap = Math.min(group.cap, size);
    group.members++;
    if (key !== undefined && this.onUnstarted) {
      // Held unstarted until the group starts: forgiven if the replica dies meanwhile (../replica-protocol/forgiven.ts).
      group.keys.push(key);
      this.onUnstarted(group.keys);
    }
    await group.ready;
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      group.members--;
      if (group.members === 0) {
        this.group = null;
        this.isolation?.set(false);
        this.subscription?.resume();
      } else {
        // What a member settled is sent now: a member still running may yet kill the replica.
        this.flushAcks();
      }
      this.wake();
    }
  }

  /** Waits for the burst a group's members came with to end and for what runs to finish, then starts it. */
  private async gather(group: Group): Promise<void> {
    // The burst is over once no delivery arrived for QUIET_MS since the group last saw one arrive.
    let seen = -1;
    let quietSince = 0;
    for (;;) {
      if (this.arrivals !== seen) {
        seen = this.arrivals;
        quietSince = this.now();
      }
      const quietIn = quietSince + QUIET_MS - this.now();
      if (this.running === 0 && this.moving === 0 && quietIn <= 0) break;
      await Promise.race([this.change(), new Promise((resolve) => setTimeout(resolve, Math.max(quietIn, 1)))]);
    }
    if (this.subscription) {
      // What arrives until the broker confirms the cancel joins the group if there is room, is moved
      // aside (a suspect) or waits (fresh).
      await this.subscription.pause();
      while (this.running !== 0 || this.moving !== 0) await this.change();
    }
    // The fresh messages waiting behind the group go back to the queue before it starts, for another
    // replica, or this one after: held here, they would come back charged with a death they had no
    // part in if a suspect kills the replica, and a few poison messages in a backlog dead-lettered
    // good ones that had only waited beside them. A batch function's items still filling a batch go too.
    this.beforeHandBack();
    const behind = this.behind.splice(0);
    for (const waiter of behind) {
      if (waiter.settled) continue;
      waiter.settled = true;
      this.moving++;
      waiter.resolve(true);
    }
    while (this.moving !== 0) await this.change();
    // And what finished here, those copies' acks included, must be the broker's before a suspect can kill the replica.
    if (this.subscription?.syncAcks) await this.subscription.syncAcks();
    group.started = true;
    if (group.keys.length > 0) this.onUnstarted?.([]);
    this.together = group.members;
    this.onStart(group.members);
    this.flushAcks();
  }

  /**
   * `run(false, task)` without a promise, for the hot path: true when a fresh message may start now
   * (no suspect waits or runs), counted as running until `leave`; false: go through `run`.
   */
  tryEnter(): boolean {
    if (this.group) return false;
    this.running++;
    return true;
  }

  leave(): void {
    this.running--;
    this.wake();
  }

  private wake(): void {
    if (this.waiting.length === 0) return;
    for (const wake of this.waiting.splice(0)) wake();
    this.behind = this.behind.filter((waiter) => !waiter.settled);
  }

  /** Resolves false at the gate's next change (look again), or true: hand the message back, the group starts. */
  private waitBehind(): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter: Behind = { settled: false, resolve };
      this.behind.push(waiter);
      this.waiting.push(() => {
        if (waiter.settled) return;
        waiter.settled = true;
        resolve(false);
      });
    });
  }

  private change(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}
