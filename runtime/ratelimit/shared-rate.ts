/**
 * `rateLimit:` across every replica of a function in one runtime. Replicas are worker threads, so
 * the state lives in a SharedArrayBuffer that the main thread creates once per function
 * (runtime/supervisor/function-runner.ts) and every replica thread of that function uses, with
 * Atomics for a short lock (no await inside it).
 *
 * Two steps, both needed:
 * - Pacing (`reserve`): starts are spread evenly, one slot of `period / count` per item (100/s: one
 *   every 10 ms), so 1,000 messages at 100/s take 10 s, not 9 s of bursts and pauses.
 * - Admission (`admit`), when the wait is over: a sliding log of the last `count` actual starts. n
 *   items may start at `now` only when at most `count - n` started in (now - period - SAFETY_MS, now].
 *   Checking the window that ends at each start is enough for every window; it is what keeps a batch
 *   (n items at once) within the limit, and it uses the real start times, so a timer that fired late
 *   (a busy replica) or early (Node measures timers from a cached loop time) cannot let a window see
 *   one item too many. SAFETY_MS covers the time between admission and the handler's first line (a
 *   few ms, more when the thread is descheduled; seen above 20 ms on a loaded 2-core machine). It
 *   costs SAFETY_MS per `count` items: 0.3 s over 1,000 messages at 100/s.
 */

const SAFETY_MS = 30;
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

  /** Pacing: reserve `n` slots (1 ≤ n ≤ count); returns the ms to wait before asking to start. */
  reserve(n: number, now = Date.now()): number {
    return this.locked(() => {
      const start = Math.max(now, this.slots[NEXT]!);
      this.slots[NEXT] = start + this.items(n) * this.interval;
      return start - now;
    });
  }

  /** Admission: 0 when `n` items may start now (recorded as started), else the ms to wait before asking again. */
  admit(n: number, now = Date.now()): number {
    const { slots, count } = this;
    const items = this.items(n);
    return this.locked(() => {
      const total = slots[TOTAL]!;
      // the (count - items + 1)-th most recent start must be out of the window ending now
      const back = count - items + 1;
      if (total >= back) {
        const free = slots[RING + ((total - back) % count)]! + this.periodMs + SAFETY_MS;
        if (free > now) return free - now;
      }
      for (let i = 0; i < items; i++) slots[RING + ((total + i) % count)] = now;
      slots[TOTAL] = total + items;
      return 0;
    });
  }

  /** Resolves when `n` items may start; they are counted as started then. */
  async wait(n: number): Promise<void> {
    let ms = this.reserve(n);
    for (;;) {
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      ms = this.admit(n);
      if (ms === 0) return;
    }
  }

  private items(n: number): number {
    return Math.min(Math.max(1, n), this.count);
  }

  private locked<T>(critical: () => T): T {
    while (Atomics.compareExchange(this.lock, LOCK, 0, 1) !== 0) {
      // Another replica holds the lock for a few instructions: spin.
    }
    try {
      return critical();
    } finally {
      Atomics.store(this.lock, LOCK, 0);
    }
  }
}
