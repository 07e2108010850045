/**
 * `rateLimit:` across every replica of a function in one runtime. Replicas are worker threads, so
 * the state lives in a SharedArrayBuffer that the main thread creates once per function
 * (runtime/supervisor/function-runner.ts) and every replica thread of that function uses, with
 * Atomics for a short lock (no await inside it).
 *
 * Two rules, both needed:
 * - Pacing: starts are spread evenly, one slot of `period / count` per item (100/s: one every 10 ms),
 *   so 1,000 messages at 100/s take 10 s, not 9 s of bursts and pauses.
 * - A sliding log of the last `count` item starts: a start of n items at time S waits until at most
 *   `count - n` items started in (S - period, S]. Checking the window that ends at each new start is
 *   enough for every window, and it is what keeps a batch (n items starting at once) within the limit.
 *   SAFETY_MS is added to that check: a replica's timer may fire a few ms late, and a late start must
 *   not let the next window see one item too many.
 *
 * Reservations are made for the future: `reserve` returns how long to wait before starting.
 */

const SAFETY_MS = 15;
const LOCK = 0;
/** Float64 slots after the 8-byte lock word */
const NEXT = 0;
const TOTAL = 1;
const RING = 2;

export function createRateBuffer(count: number): SharedArrayBuffer {
  return new SharedArrayBuffer(8 + (RING + count) * 8);
}

export class SharedRate {
  private readonly lock: Int32Array;
  private readonly slots: Float64Array;
  private readonly interval: number;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly count: number,
    private readonly periodMs: number,
  ) {
    this.lock = new Int32Array(buffer, 0, 2);
    this.slots = new Float64Array(buffer, 8, RING + count);
    this.interval = periodMs / count;
  }

  /** Reserve `n` starts (1 ≤ n ≤ count); returns the ms to wait before starting them. */
  reserve(n: number, now = Date.now()): number {
    const { slots, count } = this;
    const items = Math.min(Math.max(1, n), count);
    while (Atomics.compareExchange(this.lock, LOCK, 0, 1) !== 0) {
      // Another replica holds the lock for a few instructions: spin.
    }
    try {
      let start = Math.max(now, slots[NEXT]!);
      const total = slots[TOTAL]!;
      // the (count - items + 1)-th most recent start must be out of the window ending at `start`
      const back = count - items + 1;
      if (total >= back) {
        const oldest = slots[RING + ((total - back) % count)]!;
        start = Math.max(start, oldest + this.periodMs + SAFETY_MS);
      }
      for (let i = 0; i < items; i++) slots[RING + ((total + i) % count)] = start;
      slots[TOTAL] = total + items;
      slots[NEXT] = start + items * this.interval;
      return start - now;
    } finally {
      Atomics.store(this.lock, LOCK, 0);
    }
  }

  /** Resolves when `n` items may start. */
  wait(n: number): Promise<void> {
    const ms = this.reserve(n);
    return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
  }
}
