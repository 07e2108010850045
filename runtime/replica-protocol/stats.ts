/**
 * Per-replica counters in shared memory: the replica thread adds with Atomics (no message passing
 * per message), the supervisor reads them for /metrics, `status` and the watchdog. On the hot path a
 * message only adds to plain numbers of the thread's own; they reach the shared slots once per
 * event-loop turn (one Atomics.add per slot that changed, for all the messages of that turn).
 */

/** Upper bounds (ms) of the handler duration histogram; the last bucket is +Inf. */
export const DURATION_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000] as const;

/**
 * The dashboard's latency buckets (ms), finer than /metrics' (a 150 ms handler lies in its 100-250 ms
 * bucket, read back as p50 175 ms): 0.1 ms × 1.1^i up to about 80 s, the last bucket +Inf. A quantile
 * read from them is within one step, 10 %, of the true one.
 */
const LATENCY_FIRST_MS = 0.1;
const LATENCY_STEP = 1.1;
const LOG_STEP = Math.log(LATENCY_STEP);
export const LATENCY_BOUNDS_MS: readonly number[] = Array.from({ length: 144 }, (_, i) => LATENCY_FIRST_MS * LATENCY_STEP ** i);

/** Index of the latency bucket `ms` falls in (the first whose bound it does not exceed), without a search. */
export function latencyBucket(ms: number): number {
  if (!(ms > LATENCY_FIRST_MS)) return 0;
  const i = Math.ceil(Math.log(ms / LATENCY_FIRST_MS) / LOG_STEP);
  return i < LATENCY_BOUNDS_MS.length ? i : LATENCY_BOUNDS_MS.length;
}

/** Upper bounds (items) of the batch size histogram (batch functions only); the last bucket is +Inf. */
export const BATCH_SIZE_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000] as const;

const SLOT = {
  acked: 0,
  retried: 1,
  dead: 2,
  dropped: 3,
  inFlight: 4,
  /** Date.now() of the replica's last event-loop tick: a blocked loop stops updating it */
  heartbeat: 5,
  durationSumMicros: 6,
  durationCount: 7,
  /** messages taken by a replica that the broker had delivered before (crash, requeue) */
  redelivered: 8,
  bucketsStart: 9,
} as const;

/** batch handler calls, then the batch size histogram, after the duration buckets */
const BATCHES = SLOT.bucketsStart + DURATION_BUCKETS_MS.length + 1;
const BATCH_ITEMS = BATCHES + 1;
const BATCH_BUCKETS = BATCHES + 2;
/** the dashboard's latency histogram, after the batch sizes */
const LATENCY = BATCH_BUCKETS + BATCH_SIZE_BUCKETS.length + 1;
/** groups of suspects that reported their keys and started (runtime/replica-protocol/forgiven.ts) */
const GROUPS = LATENCY + LATENCY_BOUNDS_MS.length + 1;
const SIZE = GROUPS + 1;

export interface StatsSnapshot {
  acked: number;
  retried: number;
  dead: number;
  dropped: number;
  inFlight: number;
  heartbeat: number;
  durationSumMs: number;
  durationCount: number;
  redelivered: number;
  /** non-cumulative counts per bucket, the last one for +Inf */
  buckets: number[];
  /** non-cumulative counts per LATENCY_BOUNDS_MS bucket, the last one for +Inf: the dashboard's p50 and p95 */
  latency: number[];
  /** batch handler calls and the items they got */
  batches: number;
  batchItems: number;
  /** non-cumulative batch size counts per BATCH_SIZE_BUCKETS bucket, the last one for +Inf */
  batchSizes: number[];
}

export type Counter = 'acked' | 'retried' | 'dead' | 'dropped' | 'redelivered';

export class ReplicaStats {
  readonly buffer: SharedArrayBuffer;
  private readonly slots: BigInt64Array;
  /** what this thread added since the last flush, per slot */
  private readonly pending = new Float64Array(SIZE);
  private dirty = false;
  private readonly flushNow = () => this.flush();

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SIZE * 8);
    this.slots = new BigInt64Array(this.buffer);
    this.inFlight = new Int32Array(this.buffer, SLOT.inFlight * 8, 1);
  }

  /** The in-flight count, in its slot's first 4 bytes: written per message, so a number, not a BigInt that each write would allocate. */
  private readonly inFlight: Int32Array;

  count(counter: Counter): void {
    this.add(SLOT[counter], 1);
  }

  /**
   * A message is in hand. Written to the shared slot at once, not at the next tick: a handler that
   * ends the thread in the same step (`process.exit`) leaves no tick, and the supervisor must see that
   * the replica died with a message in hand (it restarts it at once instead of backing off).
   */
  enter(): void {
    Atomics.add(this.inFlight, 0, 1);
  }

  /** A message taken with `enter` is settled (or went back to the broker). */
  leave(): void {
    Atomics.sub(this.inFlight, 0, 1);
  }

  /**
   * A handler ran for `durationMs` on one message (or a batch's handler, for each item): from its
   * start to its outcome. Neither the wait for a rate-limit turn or for a batch to fill, nor the
   * publishes and settlement after it: an output waiting for a lost broker is not handler time.
   */
  ran(durationMs: number): void {
    this.add(SLOT.durationSumMicros, Math.round(durationMs * 1000));
    this.add(SLOT.durationCount, 1);
    this.add(SLOT.bucketsStart + bucketOf(DURATION_BUCKETS_MS, durationMs), 1);
    this.add(LATENCY + latencyBucket(durationMs), 1);
  }

  /** One batch handler call with `size` items. */
  batch(size: number): void {
    this.add(BATCHES, 1);
    this.add(BATCH_ITEMS, size);
    this.add(BATCH_BUCKETS + bucketOf(BATCH_SIZE_BUCKETS, size), 1);
  }

  private add(slot: number, n: number): void {
    this.pending[slot]! += n;
    if (this.dirty) return;
    this.dirty = true;
    process.nextTick(this.flushNow);
  }

  /** Publish what this thread added to the shared slots. */
  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const { pending, slots } = this;
    for (let i = 0; i < SIZE; i++) {
      const n = pending[i]!;
      if (n === 0) continue;
      pending[i] = 0;
      Atomics.add(slots, i, BigInt(n));
    }
  }

  /**
   * A group of suspects that said it waits starts now: written before its first member runs, so the
   * supervisor reading it after a death knows they had started, whatever message was still on its way.
   */
  groupStarted(): void {
    Atomics.add(this.slots, GROUPS, 1n);
  }

  /** How many such groups have started on this replica. */
  get groupsStarted(): number {
    return Number(Atomics.load(this.slots, GROUPS));
  }

  beat(now: number): void {
    Atomics.store(this.slots, SLOT.heartbeat, BigInt(now));
  }

  snapshot(): StatsSnapshot {
    this.flush();
    const read = (i: number) => Number(Atomics.load(this.slots, i));
    /** a histogram's counts: one slot per bound from `start`, then +Inf */
    const histogram = (start: number, bounds: readonly number[]) => Array.from({ length: bounds.length + 1 }, (_, i) => read(start + i));
    const buckets = histogram(SLOT.bucketsStart, DURATION_BUCKETS_MS);
    const batchSizes = histogram(BATCH_BUCKETS, BATCH_SIZE_BUCKETS);
    const latency = histogram(LATENCY, LATENCY_BOUNDS_MS);
    return {
      acked: read(SLOT.acked),
      retried: read(SLOT.retried),
      dead: read(SLOT.dead),
      dropped: read(SLOT.dropped),
      inFlight: Atomics.load(this.inFlight, 0),
      heartbeat: read(SLOT.heartbeat),
      durationSumMs: read(SLOT.durationSumMicros) / 1000,
      durationCount: read(SLOT.durationCount),
      redelivered: read(SLOT.redelivered),
      buckets,
      latency,
      batches: read(BATCHES),
      batchItems: read(BATCH_ITEMS),
      batchSizes,
    };
  }
}

/** Index of the first bound `value` is within; the length of `bounds` for +Inf. */
function bucketOf(bounds: readonly number[], value: number): number {
  for (let i = 0; i < bounds.length; i++) if (value <= bounds[i]!) return i;
  return bounds.length;
}

/** Sum of snapshots (a function's replicas, living and retired). */
export function addSnapshots(a: StatsSnapshot, b: StatsSnapshot): StatsSnapshot {
  return {
    acked: a.acked + b.acked,
    retried: a.retried + b.retried,
    dead: a.dead + b.dead,
    dropped: a.dropped + b.dropped,
    inFlight: a.inFlight + b.inFlight,
    heartbeat: Math.max(a.heartbeat, b.heartbeat),
    durationSumMs: a.durationSumMs + b.durationSumMs,
    durationCount: a.durationCount + b.durationCount,
    redelivered: a.redelivered + b.redelivered,
    buckets: addCounts(a.buckets, b.buckets),
    latency: addCounts(a.latency, b.latency),
    batches: a.batches + b.batches,
    batchItems: a.batchItems + b.batchItems,
    batchSizes: addCounts(a.batchSizes, b.batchSizes),
  };
}

/** Two histograms' counts, bucket by bucket. */
function addCounts(a: readonly number[], b: readonly number[]): number[] {
  return a.map((n, i) => n + (b[i] ?? 0));
}

export function emptySnapshot(): StatsSnapshot {
  return new ReplicaStats().snapshot();
}
