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

/** How long a forgiveness waits for its message to come back: it does within seconds. */
export const FORGIVEN_FOR_MS = 10 * 60_000;
/** At most this many keys per function (the oldest go first). */
export const FORGIVEN_MAX = 16_384;

export class ForgivenDeliveries {
  /** key → how many deliveries are forgiven, and until when */
  private readonly keys = new Map<string, { count: number; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.keys.size;
  }

  /** One delivery forgiven per occurrence of a key (one death each). */
  add(keys: Iterable<string>): void {
    const until = this.now() + FORGIVEN_FOR_MS;
    for (const key of keys) {
      const count = (this.keys.get(key)?.count ?? 0) + 1;
      this.keys.delete(key);
      this.keys.set(key, { count, until });
    }
    for (const oldest of this.keys.keys()) {
      if (this.keys.size <= FORGIVEN_MAX) break;
      this.keys.delete(oldest);
    }
  }

  /** Uses one forgiven delivery of `key`: true if there was one. */
  take(key: string): boolean {
    const entry = this.keys.get(key);
    if (!entry) return false;
    if (entry.until < this.now()) {
      this.keys.delete(key);
      return false;
    }
    if (--entry.count === 0) this.keys.delete(key);
    return true;
  }

  /** The forgiven deliveries, a key once per delivery (for a replica that starts now). */
  list(): string[] {
    const now = this.now();
    const out: string[] = [];
    for (const [key, { count, until }] of this.keys) if (until >= now) for (let i = 0; i < count; i++) out.push(key);
    return out;
  }
}
