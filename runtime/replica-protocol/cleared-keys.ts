/**
 * Messages cleared of suspicion: the ones a replica held when it lost its connection to the broker.
 * The broker hands them back with one more delivery counted, as it does the messages of a replica
 * that died, but a lost connection (a broker restart, a cluster node going away, a network cut) is no
 * evidence against them, so they run again as fresh messages instead of waiting aside and running
 * alone one by one (runtime/replica/suspects.ts). Each replica keeps these keys for its function; the
 * supervisor passes a replica's keys to the function's other replicas (any of them may be handed a
 * message back) and to the replicas it starts later.
 *
 * A key clears every delivery of its message while it lasts: a message may come back more than once
 * (a copy moved aside before its key arrived, an ack lost with a queue's leader), and one with the
 * same body and no id is the same message here. A replica's death clears them all: the death may be
 * one of these messages' doing, so after it they are suspects again. The keys are held at most
 * CLEARED_FOR_MS and CLEARED_MAX of them (the oldest go first).
 */
import { ExpiringKeys } from '../lib/expiring-keys';

/** How long a key stays: longer than a broker is usually down, so the messages come back within it. */
export const CLEARED_FOR_MS = 60 * 60_000;
/** At most this many keys per function (about 5 MiB): far more than replicas × prefetch, in practice. */
export const CLEARED_MAX = 65_536;

export class ClearedKeys {
  private readonly keys: ExpiringKeys<true>;

  constructor(private readonly now: () => number = Date.now) {
    this.keys = new ExpiringKeys(CLEARED_MAX, now);
  }

  get size(): number {
    return this.keys.size;
  }

  /** Added again, a key moves to the back with the later expiry. */
  add(keys: Iterable<string>): void {
    const until = this.now() + CLEARED_FOR_MS;
    for (const key of keys) this.keys.set(key, true, until);
  }

  has(key: string): boolean {
    return this.keys.get(key) !== undefined;
  }

  /** The keys still clearing, oldest first (for a replica that starts now). */
  list(): string[] {
    return [...this.keys.live()].map(([key]) => key);
  }

  clear(): void {
    this.keys.clear();
  }
}
