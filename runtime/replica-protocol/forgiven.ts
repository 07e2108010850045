/**
 * Deliveries forgiven: a replica that dies hands back every message it held, each with one more
 * delivery counted against it, but the suspects still gathering there to run apart had not started
 * (runtime/replica/suspects.ts): whatever killed the replica, it was not them. Each replica tells the
 * supervisor the keys of the suspects it holds unstarted; when it dies, the supervisor forgives them,
 * to every replica of the function and to the ones it starts later. The replica a forgiven message
 * comes back to counts one delivery fewer, and says so, so the supervisor and the others forget it:
 * one death is forgiven once.
 *
 * Without it, a good message that waited there to run alone behind a fresh message that crashed came
 * back one count nearer its limit each time, and a few poison messages in a backlog dead-lettered
 * good ones as `delivery-limit`.
 */
import { ExpiringKeys } from '../lib/expiring-keys';

/** How long a forgiveness waits for its message to come back: it does within seconds. */
export const FORGIVEN_FOR_MS = 10 * 60_000;
/** At most this many keys per function (the oldest go first). */
export const FORGIVEN_MAX = 16_384;

export class ForgivenDeliveries {
  /** key → how many deliveries are forgiven */
  private readonly keys: ExpiringKeys<{ count: number }>;

  constructor(private readonly now: () => number = Date.now) {
    this.keys = new ExpiringKeys(FORGIVEN_MAX, now);
  }

  get size(): number {
    return this.keys.size;
  }

  /** One delivery forgiven per occurrence of a key (one death each). */
  add(keys: Iterable<string>): void {
    const until = this.now() + FORGIVEN_FOR_MS;
    for (const key of keys) this.keys.set(key, { count: (this.keys.get(key)?.count ?? 0) + 1 }, until);
  }

  /** Uses one forgiven delivery of `key`: true if there was one. */
  take(key: string): boolean {
    const entry = this.keys.get(key);
    if (!entry) return false;
    if (--entry.count === 0) this.keys.delete(key);
    return true;
  }

  /** The forgiven deliveries, a key once per delivery (for a replica that starts now). */
  list(): string[] {
    const out: string[] = [];
    for (const [key, { count }] of this.keys.live()) for (let i = 0; i < count; i++) out.push(key);
    return out;
  }
}

/**
 * After a replica dies, how long a suspect it hands back is forgiven that delivery unless it ran
 * there: the returns reach the next replica within a second or two of the death.
 */
export const AFTER_DEATH_MS = 15_000;

/**
 * The same for the suspects a replica never saw: those the broker delivered into it while a fresh
 * message blocked its event loop, or in the moment before a crash, never reached a handler, and
 * no replica can name them. A replica tells the supervisor the key of every message with a count
 * that it admits to run (suspects are few), so a death names the ones that ran there: `guilty`.
 *
 * The replica started in its place, for AFTER_DEATH_MS, forgives one delivery to a message handed
 * back that had a count already when it was delivered there (a suspect: it waited aside, or was to)
 * and is not among them: it had no part in the death. A message that kills replicas always ran where it killed, so it is
 * always counted; a fresh one is never forgiven this way (it may be the killer, and its first count
 * costs it nothing). Only a replica started after the death forgives, and only until it hears of
 * another: a replica already running could be handed a message back by a death it has not heard of
 * yet, and forgive the message that caused it. Nor does it forgive one that runs in another replica
 * of the function (the supervisor tells it at once): the watchdog ends a blocked replica seconds
 * later, and the broker hands its messages back before its death is told.
 *
 * Another runtime's replicas (a Kubernetes pod each) are not heard of: a message that kills replicas
 * in two runtimes by turns can be forgiven a delivery in one of them that it had no part in there, a
 * delivery or two more than redeliveryLimit, never without end (it is counted where it ran).
 */
export class AfterDeath {
  private until = 0;
  private readonly guilty = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A replica died; `guilty`: the messages with a count that ran there. */
  died(guilty: Iterable<string>, until: number): void {
    if (this.now() > this.until) this.guilty.clear();
    for (const key of guilty) this.guilty.add(key);
    if (until > this.until) this.until = until;
  }

  /** Whether a suspect handed back now is forgiven one delivery. */
  forgives(key: string): boolean {
    return this.now() <= this.until && !this.guilty.has(key);
  }

  get open(): boolean {
    return this.until !== 0 && this.now() <= this.until;
  }

  /** A message with a count runs in another replica: if that one dies, its return is not forgiven here. */
  runsElsewhere(key: string): void {
    if (this.open) this.guilty.add(key);
  }

  /** Another death: what comes back now may be its doing, and this replica cannot tell. */
  close(): void {
    this.until = 0;
    this.guilty.clear();
  }

  /** For a replica that starts now: the window's end and the guilty keys; null when closed. */
  state(): { until: number; guilty: string[] } | null {
    return this.open ? { until: this.until, guilty: [...this.guilty] } : null;
  }
}
