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
 *   one item too many. The handler is called in the same synchronous step as its admission (`turn`),
 *   so its first line runs microseconds after the start recorded here. SAFETY_MS covers what is left:
 *   millisecond clocks (a start recorded at the end of one millisecond, the handler's first line in
 *   the next) and a thread descheduled between the two. It costs SAFETY_MS per `count` items: 0.25 s
 *   over 1,000 messages at 100/s. (At 10 ms, a replica thread descheduled for longer on a loaded
 *   2-core machine, a test suite beside it, stamped 21 handler starts in one second at 20/s.)
 */

export const SAFETY_MS = 25;
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
  reserve(n: number, at?: number): number {
    return this.locked(() => {
      const now = at ?? Date.now();
      const start = Math.max(now, this.slots[NEXT]!);
      this.slots[NEXT] = start + this.items(n) * this.interval;
      return start - now;
    });
  }

  /** Admission: 0 when `n` items may start now (recorded as started), else the ms to wait before asking again. */
  admit(n: number, at?: number): number {
    const { slots, count } = this;
    const items = this.items(n);
    return this.locked(() => {
      // Read under the lock: a thread that waited for it must not record the time it began waiting
      // (starts would then enter the log out of order, and earlier than they happen).
      const now = at ?? Date.now();
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

  /**
   * Calls `start` once `n` items may start, in the same synchronous step as recording their start:
   * no promise job and no other message's work comes between the admission and the handler's
   * first line, so the starts a handler sees are the ones counted here. Returns `cancel`: true when
   * the turn was given up before it came (`start` will not be called, its slots are released),
   * false when `start` was already called.
   */
  turn(n: number, start: () => void): () => boolean {
    let timer: NodeJS.Timeout | null = null;
    let started = false;
    const attempt = (): void => {
      timer = null;
      const ms = this.admit(n);
      if (ms === 0) {
        started = true;
        start();
      } else timer = setTimeout(attempt, ms);
    };
    const ms = this.reserve(n);
    if (ms > 0) timer = setTimeout(attempt, ms);
    else attempt();
    return () => {
      if (started || timer === null) return false;
      clearTimeout(timer);
      timer = null;
      this.release(n);
      return true;
    };
  }

  /**
   * Pacing: give back the slots of a turn that will not be used (its replica drains and hands its
   * message back). Without it the slots stay reserved, unused: after a redeploy the new version's
   * replicas would wait behind the old version's abandoned turns. Reservations made after the
   * released one keep their times, so a later reservation may share a slot with one of them: that
   * is a burst within the limit, since admission still counts the real starts.
   */
  release(n: number): void {
    this.locked(() => {
      this.slots[NEXT] = this.slots[NEXT]! - this.items(n) * this.interval;
    });
  }

  /** `turn` as a promise (tests): resolves when `n` items may start; they are counted as started then. */
  wait(n: number): Promise<void> {
    return new Promise((resolve) => {
      this.turn(n, resolve);
    });
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
