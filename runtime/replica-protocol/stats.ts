/**
 * Per-replica counters in shared memory: the replica thread adds with Atomics on its hot path (no
 * message passing per message), the supervisor reads them for /metrics, `status` and the watchdog.
 */

/** Upper bounds (ms) of the handler duration histogram; the last bucket is +Inf. */
export const DURATION_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000] as const;

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
const SIZE = BATCH_BUCKETS + BATCH_SIZE_BUCKETS.length + 1;

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

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SIZE * 8);
    this.slots = new BigInt64Array(this.buffer);
  }

  count(counter: Counter): void {
    Atomics.add(this.slots, SLOT[counter], 1n);
  }

  enter(): void {
    Atomics.add(this.slots, SLOT.inFlight, 1n);
  }

  leave(durationMs: number): void {
    Atomics.sub(this.slots, SLOT.inFlight, 1n);
    Atomics.add(this.slots, SLOT.durationSumMicros, BigInt(Math.round(durationMs * 1000)));
    Atomics.add(this.slots, SLOT.durationCount, 1n);
    let bucket = DURATION_BUCKETS_MS.findIndex((bound) => durationMs <= bound);
    if (bucket === -1) bucket = DURATION_BUCKETS_MS.length;
    Atomics.add(this.slots, SLOT.bucketsStart + bucket, 1n);
  }

  /** One batch handler call with `size` items. */
  batch(size: number): void {
    Atomics.add(this.slots, BATCHES, 1n);
    Atomics.add(this.slots, BATCH_ITEMS, BigInt(size));
    let bucket = BATCH_SIZE_BUCKETS.findIndex((bound) => size <= bound);
    if (bucket === -1) bucket = BATCH_SIZE_BUCKETS.length;
    Atomics.add(this.slots, BATCH_BUCKETS + bucket, 1n);
  }

  beat(now: number): void {
    Atomics.store(this.slots, SLOT.heartbeat, BigInt(now));
  }

  snapshot(): StatsSnapshot {
    const read = (i: number) => Number(Atomics.load(this.slots, i));
    const buckets: number[] = [];
    for (let i = 0; i <= DURATION_BUCKETS_MS.length; i++) buckets.push(read(SLOT.bucketsStart + i));
    const batchSizes: number[] = [];
    for (let i = 0; i <= BATCH_SIZE_BUCKETS.length; i++) batchSizes.push(read(BATCH_BUCKETS + i));
    return {
      acked: read(SLOT.acked),
      retried: read(SLOT.retried),
      dead: read(SLOT.dead),
      dropped: read(SLOT.dropped),
      inFlight: read(SLOT.inFlight),
      heartbeat: read(SLOT.heartbeat),
      durationSumMs: read(SLOT.durationSumMicros) / 1000,
      durationCount: read(SLOT.durationCount),
      redelivered: read(SLOT.redelivered),
      buckets,
      batches: read(BATCHES),
      batchItems: read(BATCH_ITEMS),
      batchSizes,
    };
  }
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
    buckets: a.buckets.map((n, i) => n + (b.buckets[i] ?? 0)),
    batches: a.batches + b.batches,
    batchItems: a.batchItems + b.batchItems,
    batchSizes: a.batchSizes.map((n, i) => n + (b.batchSizes[i] ?? 0)),
  };
}

export function emptySnapshot(): StatsSnapshot {
  return new ReplicaStats().snapshot();
}
