/**
 * Handler timeouts without a timer per message. Every run of one function has the same `timeout`,
 * so deadlines are added in the order they fall due: they wait in a FIFO, and one timer, armed for
 * the oldest that is still running, serves them all. A run that finishes is only marked; it leaves
 * the FIFO when it reaches the front (or when finished runs make up most of it, so a slow message
 * at the front cannot make the FIFO grow with the fast ones behind it).
 *
 * A timer per message (setTimeout, then clearTimeout) was a measurable share of a no-op handler's
 * cost: test/unit/deadlines.test.ts checks that this one fires each expiry once, on time, and never
 * for a run that finished.
 */

export interface Timed {
  /** performance.now() at which it expires */
  deadline: number;
  /** set by `finish`: it must not expire any more */
  finished: boolean;
  /** called once, at the deadline, unless it finished before */
  expire(): void;
}

/** Finished runs tolerated in the FIFO before it is compacted: at least this many, and more than the running ones. */
const COMPACT_AT = 256;

export class DeadlineQueue {
  private entries: Timed[] = [];
  private head = 0;
  /** finished entries still in `entries[head..]` */
  private finishedInQueue = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `t.deadline` must not be earlier than that of any entry added before it (one timeout per queue). */
  add(t: Timed): void {
    this.entries.push(t);
    if (this.timer === null) this.arm(t.deadline);
    else if (!this.timer.hasRef()) this.timer.ref();
  }

  finish(t: Timed): void {
    if (t.finished) return;
    t.finished = true;
    this.finishedInQueue++;
    // The front finished: drop it and the finished ones behind it at once.
    if (this.entries[this.head] === t) this.dropFinishedFront();
    else if (this.finishedInQueue >= COMPACT_AT && this.finishedInQueue * 2 > this.entries.length - this.head) this.compact();
  }

  /** Running entries (for tests and for the drain). */
  get size(): number {
    return this.entries.length - this.head - this.finishedInQueue;
  }

  private dropFinishedFront(): void {
    const { entries } = this;
    while (this.head < entries.length && entries[this.head]!.finished) {
      entries[this.head++] = undefined as unknown as Timed;
      this.finishedInQueue--;
    }
    if (this.head === entries.length) {
      this.entries = [];
      this.head = 0;
      // Nothing left to time: the timer stays (the next add reuses it, which costs less than a new
      // one per message), but no longer keeps the thread (or `warren invoke`) alive.
      this.timer?.unref();
    } else if (this.head >= COMPACT_AT && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head);
      this.head = 0;
    }
  }

  private compact(): void {
    this.entries = this.entries.slice(this.head).filter((t) => !t.finished);
    this.head = 0;
    this.finishedInQueue = 0;
  }

  private arm(deadline: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    // +1: Node may fire a timer up to a millisecond early against performance.now().
    this.timer = setTimeout(() => this.fire(), Math.max(0, deadline - this.now()) + 1);
  }

  private fire(): void {
    this.timer = null;
    const now = this.now();
    while (this.head < this.entries.length) {
      const t = this.entries[this.head]!;
      if (!t.finished && t.deadline > now) break;
      this.entries[this.head++] = undefined as unknown as Timed;
      if (t.finished) {
        this.finishedInQueue--;
        continue;
      }
      t.finished = true;
      t.expire();
    }
    this.dropFinishedFront();
    if (this.head < this.entries.length) this.arm(this.entries[this.head]!.deadline);
  }
}

const queues = new Map<number, DeadlineQueue>();

/** The queue for runs of `timeoutMs` in this thread (one per distinct timeout). */
export function deadlinesFor(timeoutMs: number): DeadlineQueue {
  let queue = queues.get(timeoutMs);
  if (!queue) queues.set(timeoutMs, (queue = new DeadlineQueue()));
  return queue;
}
