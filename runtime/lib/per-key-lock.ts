/**
 * One change per key at a time (per function: a deploy from the watcher, one from the admin API, a
 * scale): each waits for the one before, whether it succeeded or failed.
 */
export class PerKeyLock {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Some work for `key` runs or waits. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }
}
