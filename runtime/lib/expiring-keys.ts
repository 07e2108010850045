/**
 * Keys that each hold a value until a time, at most `max` of them (adding past it drops the oldest).
 * A key added again moves to the back with its new time (Infinity: it lasts until dropped). The
 * replicas' shared notes about messages (runtime/replica-protocol/cleared-keys.ts, forgiven.ts) and
 * the suspects a replica ran (runtime/supervisor/replica.ts) are kept in one.
 */
export class ExpiringKeys<V> {
  /** key → value and until when, in the order set (a Map iterates in insertion order) */
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    if (this.entries.size <= this.max) return;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.max) break;
      this.entries.delete(oldest);
    }
  }

  /** Its value while it lasts (one past its time is dropped). */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until >= this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** The keys that last, oldest first, with their values. */
  *live(): IterableIterator<[string, V]> {
    const now = this.now();
    for (const [key, { value, until }] of this.entries) if (until >= now) yield [key, value];
  }

  clear(): void {
    this.entries.clear();
  }
}
