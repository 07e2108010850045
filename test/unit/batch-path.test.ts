/**
 * The batch path of a replica (runtime/replica/batch/) with fake settlements and a fake publisher:
 * per-item decisions from `{ failed, rejected }`, invalid items never reaching the handler, every
 * delivery settled exactly once, and the acks of one batch going out in one coalesced frame.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { createBatchProcessor } from '../../runtime/replica/batch/process-batch';
import { itemOutcomes } from '../../runtime/replica/batch/item-outcomes';
import { BatchCollector } from '../../runtime/replica/batch/collector';
import { AckBatch } from '../../runtime/replica/ack-batch';
import { Settle, type Delivery, type Publish } from '../../runtime/replica/process';
import { jsonDelivery, quietDeps, recordingSettle } from '../testkit/delivery';
import { ReplicaStats } from '../../runtime/replica-protocol/stats';
import { DEFAULTS, type FunctionConfig } from '../../runtime/config/types';
import { Reject, type BatchHandler, type BatchItem } from '../../runtime/index';
import type { RecentFailure } from '../../runtime/admin/wire-types';
import { createRateBuffer, SharedRate } from '../../runtime/ratelimit/shared-rate';

const fn = (over: Partial<FunctionConfig> = {}) => ({
  name: 'ingest',
  file: '/p/functions/ingest.ts',
  queue: 'ingest',
  replicas: 1,
  prefetch: 10,
  timeout: 30_000,
  retry: { attempts: 3, backoff: 'exponential' as const, delay: 1_000, maxDelay: 60_000 },
  redeliveryLimit: 3,
  deadLetter: true,
  ordered: false,
  memoryMb: DEFAULTS.memoryMb,
  maxBodyBytes: DEFAULTS.maxBodyBytes,
  batch: { size: 5, windowMs: 20 },
  ...over,
});

interface Run {
  published: Array<{ queue: string; body: string; headers: Record<string, unknown> }>;
  frames: Array<{ ack: number; multiple: boolean } | { nack: number }>;
  settlements: Map<number, number>;
  calls: Array<Array<BatchItem>>;
  stats: ReplicaStats;
  /** what the replica reported as failed attempts (the dashboard's recent failures) */
  failures: RecentFailure[];
}

/** Delivers `bodies` (strings, sent as application/json) to a batch processor and waits until all are settled. */
async function deliver(
  handler: BatchHandler,
  bodies: string[],
  options: {
    config?: Partial<FunctionConfig>;
    validate?: (v: unknown) => string | null;
    headers?: (i: number) => Record<string, unknown>;
    /** message ids a lost connection cleared */
    cleared?: string[];
    onTick?: (scheduledAt: string, outcome: string) => void;
  } = {},
): Promise<Run> {
  const run: Run = { published: [], frames: [], settlements: new Map(), calls: [], stats: new ReplicaStats(), failures: [] };
  const publish: Publish = async (target, content, { properties }) => {
    run.published.push({
      queue: target.name,
      body: Buffer.isBuffer(content) ? content.toString() : JSON.stringify(content),
      headers: properties?.headers ?? {},
    });
  };
  const acks = new AckBatch({ ack: (tag, multiple) => run.frames.push({ ack: tag, multiple }), nack: (tag) => run.frames.push({ nack: tag }) });
  const processor = createBatchProcessor({
    fn: fn(options.config) as FunctionConfig & { batch: { size: number; windowMs: number } },
    version: 'v1',
    queueType: 'quorum',
    handler: (items, ctx) => {
      run.calls.push(items);
      return handler(items, ctx);
    },
    validate: options.validate ?? null,
    publish,
    log: pino({ level: 'silent' }),
    stats: run.stats,
    now: () => performance.now(),
    onStuck: () => undefined,
    onFailure: (failure) => run.failures.push(failure),
    ...(options.onTick ? { onTick: options.onTick } : {}),
    ...(options.cleared ? { isCleared: (d: Delivery) => options.cleared!.includes(d.properties.messageId!) } : {}),
  });
  const done = bodies.map((body, i) => {
    const tag = i + 1;
    acks.delivered(tag);
    const count = () => run.settlements.set(tag, (run.settlements.get(tag) ?? 0) + 1);
    const settle = new Settle(
      {
        ack: (t) => (count(), acks.ack(t)),
        nack: (t, requeue) => (count(), acks.nack(t, requeue)),
      },
      tag,
    );
    const headers = options.headers?.(i) ?? {};
    const delivery: Delivery = {
      content: Buffer.from(body),
      properties: { contentType: 'application/json', messageId: `m${i}`, headers },
      // A quorum queue sets `redelivered` whenever it writes its count.
      fields: { exchange: 'ev', routingKey: 'rk', redelivered: headers['x-delivery-count'] !== undefined },
    };
    return processor.handle(delivery, settle);
  });
  await Promise.all(done);
  await new Promise((resolve) => process.nextTick(resolve));
  return run;
}

const bodies = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ i }));

describe('batch path', () => {
  it('hands full batches to one handler call each and acks each batch with one multiple ack', async () => {
    const run = await deliver(async () => undefined, bodies(10));
    expect(run.calls.map((c) => c.map((item) => (item.body as { i: number }).i))).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
    ]);
    expect(run.calls[0]![0]).toMatchObject({ messageId: 'm0', routingKey: 'rk', exchange: 'ev', attempt: 1, headers: {} });
    // at most one frame per batch (two batches finishing in one turn share one), each a multiple ack
    expect(run.frames.length).toBeLessThanOrEqual(2);
    expect(run.frames.every((f) => 'ack' in f && f.multiple)).toBe(true);
    expect(run.frames.at(-1)).toEqual({ ack: 10, multiple: true });
    expect([...run.settlements.values()]).toEqual(Array(10).fill(1));
    const s = run.stats.snapshot();
    expect({ batches: s.batches, batchItems: s.batchItems, acked: s.acked, inFlight: s.inFlight }).toEqual({
      batches: 2,
      batchItems: 10,
      acked: 10,
      inFlight: 0,
    });
  });

  it('does not hold a partial batch past its window', async () => {
    const started = performance.now();
    const run = await deliver(async () => undefined, bodies(3));
    expect(run.calls).toHaveLength(1);
    expect(run.calls[0]).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("counts an item's handler duration from its batch's call, not from its wait for the batch to fill", async () => {
    const run = await deliver(async () => undefined, bodies(3), { config: { batch: { size: 5, windowMs: 150 } } });
    const { buckets } = run.stats.snapshot();
    // 3 items waited 150 ms for a batch that never filled; the handler took no time: all under 25 ms
    expect(buckets.slice(0, 4).reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('retries failed items, dead-letters rejected ones at once and acks the others exactly once', async () => {
    const run = await deliver(async () => ({ failed: [1], rejected: [3] }), bodies(5));
    expect(run.published.map((p) => [p.queue, p.body, p.headers['x-warren-attempt'] ?? p.headers['x-warren-reason']])).toEqual([
      ['ingest.retry.1s', '{"i":1}', 2],
      ['ingest.dead', '{"i":3}', 'reject'],
    ]);
    expect([...run.settlements.values()]).toEqual(Array(5).fill(1));
    const s = run.stats.snapshot();
    expect({ acked: s.acked, retried: s.retried, dead: s.dead }).toEqual({ acked: 3, retried: 1, dead: 1 });
    expect(run.failures.map((f) => [f.messageId, f.outcome, f.reason]).sort()).toEqual([
      ['m1', 'retried', undefined],
      ['m3', 'dead', 'reject'],
    ]);
  });

  it('fails every item when the handler throws, rejects every item on Reject', async () => {
    const thrown = await deliver(async () => {
      throw new Error('db down');
    }, bodies(2));
    expect(thrown.published.map((p) => p.queue)).toEqual(['ingest.retry.1s', 'ingest.retry.1s']);
    const rejected = await deliver(async () => {
      throw new Reject('bad batch');
    }, bodies(2));
    expect(rejected.published.map((p) => [p.queue, p.headers['x-warren-error']])).toEqual([
      ['ingest.dead', 'bad batch'],
      ['ingest.dead', 'bad batch'],
    ]);
  });

  it('dead-letters invalid JSON and schema failures one by one; the handler sees only valid items', async () => {
    const run = await deliver(async () => undefined, ['{"i":0}', '{not json', '{"i":"two"}', '{"i":3}'], {
      validate: (v) => (typeof (v as { i: unknown }).i === 'number' ? null : 'i must be a number'),
    });
    expect(run.calls.map((c) => c.map((item) => (item.body as { i: number }).i))).toEqual([[0, 3]]);
    expect(run.published.map((p) => [p.body, p.headers['x-warren-reason']])).toEqual([
      ['{not json', 'invalid-json'],
      ['{"i":"two"}', 'schema'],
    ]);
    expect([...run.settlements.values()]).toEqual(Array(4).fill(1));
  });

  it('dead-letters an item past the redelivery limit, moves a handed-back one aside, and runs one back from aside alone', async () => {
    const run = await deliver(async () => undefined, bodies(2), { headers: (i) => (i === 0 ? { 'x-delivery-count': 4 } : { 'x-delivery-count': 1 }) });
    const sorted = [...run.published].sort((x, y) => x.body.localeCompare(y.body));
    expect(sorted.map((p) => [p.body, p.headers['x-warren-reason']])).toEqual([
      ['{"i":0}', 'delivery-limit'],
      ['{"i":1}', undefined],
    ]);
    // The handed-back item waits in the retry ladder with its count carried, and never reaches the handler here.
    expect(sorted[1]!.queue).toMatch(/^ingest\.retry\./);
    expect(sorted[1]!.headers['x-warren-redeliveries']).toBe(1);
    expect(run.calls).toEqual([]);

    const back = await deliver(async () => undefined, bodies(1), { headers: () => ({ 'x-warren-redeliveries': 1 }) });
    expect(back.calls.map((c) => c.length)).toEqual([1]);
    expect(back.published).toEqual([]);
  });

  it('hands back, unstarted, the fresh items filling a batch when a suspect starts alone: a death of its would not be theirs', async () => {
    const run = await deliver(async () => undefined, bodies(4), {
      config: { batch: { size: 5, windowMs: 10_000 } },
      headers: (i) => (i === 0 ? { 'x-warren-redeliveries': 1 } : {}),
    });
    expect(run.calls.map((items) => items.map((item) => (item.body as { i: number }).i))).toEqual([[0]]);
    // Copies at the back of their own queue with no count (never started here), then acked.
    expect(run.published.map((p) => [p.queue, p.body, p.headers['x-warren-redeliveries']])).toEqual([
      ['ingest', '{"i":1}', undefined],
      ['ingest', '{"i":2}', undefined],
      ['ingest', '{"i":3}', undefined],
    ]);
    expect([...run.settlements.values()]).toEqual(Array(4).fill(1));
  });

  it('batches handed-back items a lost connection cleared with fresh ones, where suspects would wait aside and run alone', async () => {
    const run = await deliver(async () => undefined, bodies(5), { headers: (i) => (i < 3 ? { 'x-delivery-count': 1 } : {}), cleared: ['m0', 'm1', 'm2'] });
    expect(run.calls.map((c) => c.length)).toEqual([5]);
    expect(run.published).toEqual([]);
    expect([...run.settlements.values()]).toEqual(Array(5).fill(1));
  });

  it('does not run the items its collector held when their connection was lost: the broker hands them out again', async () => {
    const calls: number[] = [];
    let alive = true;
    const processor = createBatchProcessor({
      ...quietDeps(),
      fn: fn({ batch: { size: 5, windowMs: 100 } }) as FunctionConfig & { batch: { size: number; windowMs: number } },
      handler: (items) => void calls.push(items.length),
    });
    const frames: string[] = [];
    const done = [1, 2].map((tag) =>
      processor.handle(
        jsonDelivery('ingest'),
        recordingSettle(tag, frames, () => alive),
      ),
    );
    alive = false; // within the batch window
    await Promise.all(done);
    expect(calls).toEqual([]);
    expect(frames).toEqual([]);
  });

  it('at drain, hands back the partial batch that would wait for its rate-limit turn: unstarted, copied to its own queue, then acked', async () => {
    const rate = new SharedRate(createRateBuffer(5), 5, 60_000);
    const published: Array<{ queue: string; body: string }> = [];
    const frames: string[] = [];
    const calls: number[] = [];
    const processor = createBatchProcessor({
      fn: fn() as FunctionConfig & { batch: { size: number; windowMs: number } },
      version: 'v1',
      queueType: 'quorum',
      handler: (items) => void calls.push(items.length),
      validate: null,
      publish: async (target, content) => void published.push({ queue: target.name, body: String(content) }),
      log: pino({ level: 'silent' }),
      stats: new ReplicaStats(),
      now: () => performance.now(),
      onStuck: () => undefined,
      waitTurn: (n, start) => rate.turn(n, start),
    });
    const take = (i: number) => {
      const settle = new Settle({ ack: (t) => void frames.push(`ack ${t}`), nack: (t) => void frames.push(`requeue ${t}`) }, i);
      const delivery: Delivery = {
        content: Buffer.from(JSON.stringify({ i })),
        properties: { contentType: 'application/json', messageId: `m${i}`, headers: {} },
        fields: { exchange: 'ev', routingKey: 'rk', redelivered: false },
      };
      return new Promise<void>((done) => processor.take(delivery, settle, done));
    };
    // A full batch uses the minute's five starts; two more wait in the collector.
    await Promise.all([1, 2, 3, 4, 5].map(take));
    const held = [6, 7].map(take);
    // They waited for their batch to fill, then for a turn the minute no longer has: said apart at drain.
    expect(processor.flush()).toEqual({ items: 2, waitingForTurn: 2, started: false });
    expect(processor.handBackWaiting()).toBe(2);
    await Promise.all(held);
    expect(calls).toEqual([5]);
    expect(published).toEqual([
      { queue: 'ingest', body: '{"i":6}' },
      { queue: 'ingest', body: '{"i":7}' },
    ]);
    expect(frames.slice(5).sort()).toEqual(['ack 6', 'ack 7']);
    expect(processor.inFlight.size).toBe(0);
  });

  it('runs each item of a batch that timed out again alone: only the one that hangs alone fails its attempt, the others are acked once', async () => {
    // Item 2 hangs any call it is in, until ctx.signal aborts.
    const hangs = (items: BatchItem[]) => items.some((item) => (item.body as { i: number }).i === 2);
    const handler: BatchHandler = (items, ctx) =>
      hangs(items) ? new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))) : Promise.resolve(undefined);
    const run = await deliver(handler, bodies(4), { config: { timeout: 30 } });
    expect(run.calls.map((c) => c.map((item) => (item.body as { i: number }).i))).toEqual([[0, 1, 2, 3], [0], [1], [2], [3]]);
    expect(run.published.map((p) => [p.queue, p.body, p.headers['x-warren-attempt']])).toEqual([['ingest.retry.1s', '{"i":2}', 2]]);
    expect([...run.settlements.values()]).toEqual(Array(4).fill(1));
    const s = run.stats.snapshot();
    expect({ acked: s.acked, retried: s.retried, dead: s.dead, batches: s.batches, inFlight: s.inFlight }).toEqual({
      acked: 3,
      retried: 1,
      dead: 0,
      batches: 5,
      inFlight: 0,
    });
    // On its last attempt the hanging item alone is dead-lettered, with reason timeout.
    const last = await deliver(handler, bodies(4), { config: { timeout: 30 }, headers: () => ({ 'x-warren-attempt': 3 }) });
    expect(last.published.map((p) => [p.queue, p.body, p.headers['x-warren-reason']])).toEqual([['ingest.dead', '{"i":2}', 'timeout']]);
  });

  it('fails every item of a batch whose items all time out alone too, each once', async () => {
    const run = await deliver(() => new Promise(() => undefined), bodies(2), { config: { timeout: 30 } });
    expect(run.calls.map((c) => c.length)).toEqual([2, 1, 1]);
    expect(run.published.map((p) => p.queue)).toEqual(['ingest.retry.1s', 'ingest.retry.1s']);
    expect([...run.settlements.values()]).toEqual([1, 1]);
  });

  it("reports a scheduled batch function's tick with what became of it (status and /functions show it)", async () => {
    const ticks: Array<[string, string]> = [];
    const at = '2026-01-01T02:00:00.000Z';
    await deliver(
      async () => {
        throw new Error('report failed');
      },
      bodies(1),
      {
        config: { retry: { attempts: 1, backoff: 'exponential', delay: 1_000, maxDelay: 60_000 } },
        headers: () => ({ 'x-warren-scheduled-at': at }),
        onTick: (t, o) => ticks.push([t, o]),
      },
    );
    await deliver(async () => undefined, bodies(1), { headers: () => ({ 'x-warren-scheduled-at': at }), onTick: (t, o) => ticks.push([t, o]) });
    expect(ticks).toEqual([
      [at, 'dead'],
      [at, 'acked'],
    ]);
  });
});

describe('an ordered batch function', () => {
  const ordered = { ordered: true, retry: { attempts: 3, backoff: 'fixed' as const, delay: 10, maxDelay: 10 } };
  const ids = (run: Run) => run.calls.map((items) => items.map((item) => (item.body as { i: number }).i));

  it('runs its batches one after another, and a failed item again in place before the next batch', async () => {
    const failedOnce = new Set<number>();
    const run = await deliver(
      async (items) => {
        const i = items.findIndex((item) => (item.body as { i: number }).i === 1 && !failedOnce.has(1));
        if (i < 0) return undefined;
        failedOnce.add(1);
        return { failed: [i] };
      },
      bodies(5),
      { config: { ...ordered, batch: { size: 2, windowMs: 20 } } },
    );
    expect(ids(run)).toEqual([[0, 1], [1], [2, 3], [4]]);
    expect(run.published).toEqual([]);
    expect([...run.settlements.values()]).toEqual(Array(5).fill(1));
    expect(run.stats.snapshot()).toMatchObject({ acked: 5, retried: 0, inFlight: 0 });
    // Reported as a failed attempt, though it stayed in place.
    expect(run.failures.map((f) => [f.messageId, f.attempt, f.outcome, f.error])).toEqual([
      ['m1', 1, 'retried', 'the batch handler reported items[1] as failed'],
    ]);
  });

  it('runs the items after a failed one again with it, in order; a rejected one is dead-lettered at once', async () => {
    let calls = 0;
    const run = await deliver(async () => (++calls === 1 ? { failed: [1], rejected: [3] } : undefined), bodies(5), { config: ordered });
    expect(ids(run)).toEqual([
      [0, 1, 2, 3, 4],
      [1, 2, 4],
    ]);
    // The failed item uses an attempt; the one that succeeded beside it runs again at the attempt it had.
    expect(run.calls[1]!.map((item) => item.attempt)).toEqual([2, 1, 1]);
    expect(run.published.map((p) => [p.queue, p.body])).toEqual([['ingest.dead', '{"i":3}']]);
    expect([...run.settlements.values()]).toEqual(Array(5).fill(1));
    expect(run.stats.snapshot()).toMatchObject({ acked: 4, dead: 1, inFlight: 0 });
  });

  it('dead-letters an item out of attempts and goes on with the rest, in order', async () => {
    const run = await deliver(async (items) => ({ failed: items.flatMap((item, i) => ((item.body as { i: number }).i === 0 ? [i] : [])) }), bodies(3), {
      config: ordered,
    });
    expect(ids(run)).toEqual([
      [0, 1, 2],
      [0, 1, 2],
      [0, 1, 2],
    ]);
    expect(run.published.map((p) => [p.queue, p.body, p.headers['x-warren-attempts']])).toEqual([['ingest.dead', '{"i":0}', 3]]);
    expect(run.stats.snapshot()).toMatchObject({ acked: 2, dead: 1, inFlight: 0 });
  });

  it('runs an item that came back with a count in a batch of its own, in its place', async () => {
    const run = await deliver(async () => undefined, bodies(5), {
      config: ordered,
      headers: (i) => (i === 2 ? { 'x-delivery-count': 1 } : {}),
    });
    expect(ids(run)).toEqual([[0, 1], [2], [3, 4]]);
    expect([...run.settlements.values()]).toEqual(Array(5).fill(1));
  });
});

describe('itemOutcomes', () => {
  it('reads indexes; rejected wins over failed; a result of another shape fails every item', () => {
    const kinds = (value: unknown, n = 3) => itemOutcomes(n, { kind: 'ok', value }).map((o) => o.kind);
    expect(kinds(undefined)).toEqual(['ok', 'ok', 'ok']);
    expect(kinds({ failed: [0, 2], rejected: [2] })).toEqual(['error', 'ok', 'reject']);
    expect(kinds({ failed: [3] })).toEqual(['error', 'error', 'error']);
    expect(kinds([1])).toEqual(['error', 'error', 'error']);
    expect(kinds({ failed: 'all' })).toEqual(['error', 'error', 'error']);
  });

  it('fails every item on a result with a key it does not know, rather than acking them all', () => {
    const outcomes = (value: unknown) => itemOutcomes(2, { kind: 'ok', value });
    // Lambda's partial batch response, as a handler ported from Lambda returns it.
    const lambda = outcomes({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
    expect(lambda.map((o) => o.kind)).toEqual(['error', 'error']);
    const why = lambda[0]!.kind === 'error' ? lambda[0]!.error.message : '';
    expect(why).toContain('batchItemFailures');
    expect(why).toContain('{ failed: [indexes] }');
    // A typo.
    const typo = outcomes({ failures: [0] });
    expect(typo.map((o) => o.kind)).toEqual(['error', 'error']);
    expect(typo[0]!.kind === 'error' && typo[0]!.error.message).toContain('"failures"');
    // Not a plain object (a driver's result, a Map).
    expect(outcomes(new Map([[0, 'x']])).map((o) => o.kind)).toEqual(['error', 'error']);
    // What stays a success.
    expect(outcomes({}).map((o) => o.kind)).toEqual(['ok', 'ok']);
    expect(outcomes(null).map((o) => o.kind)).toEqual(['ok', 'ok']);
    expect(outcomes({ failed: [], rejected: undefined }).map((o) => o.kind)).toEqual(['ok', 'ok']);
    expect(outcomes(Object.assign(Object.create(null) as object, { failed: [1] })).map((o) => o.kind)).toEqual(['ok', 'error']);
  });

  it('fails every item on `failed: null` or `rejected: null`, saying the shape it expected: only an omitted key means none', () => {
    const outcomes = (value: unknown) => itemOutcomes(2, { kind: 'ok', value });
    for (const result of [{ failed: null }, { rejected: null }, { failed: [0], rejected: null }]) {
      const read = outcomes(result);
      expect(read.map((o) => o.kind)).toEqual(['error', 'error']);
      const why = read[0]!.kind === 'error' ? read[0]!.error.message : '';
      expect(why).toMatch(
        /^the batch handler returned (failed|rejected): null, not a list of indexes; expected nothing or \{ failed\?: number\[\], rejected\?: number\[\] \}/,
      );
    }
  });

  it('fails every item, saying what came back, on a result JSON cannot show (a BigInt, a symbol)', () => {
    const why = (value: unknown) => itemOutcomes(2, { kind: 'ok', value }).map((o) => (o.kind === 'error' ? o.error.message : o.kind));
    expect(why(1n)[0]).toContain('the batch handler returned 1n;');
    expect(why(Symbol('x'))[1]).toContain('the batch handler returned Symbol(x);');
    expect(why({ failed: 2n })[0]).toContain('failed: 2n');
    expect(why({ rejected: [0n] })[0]).toContain('rejected: 0n is not an index');
  });

  it('settles every item of a batch whose result cannot be read, and the replica goes on (a thrown result reader)', async () => {
    // A proxy whose prototype cannot be read: the result reader throws; every item fails, none is left unsettled.
    const hostile = new Proxy(
      {},
      {
        getPrototypeOf: () => {
          throw new Error('no prototype for you');
        },
      },
    );
    const run = await deliver(async () => hostile as unknown as undefined, bodies(3));
    expect([...run.settlements.values()]).toEqual(Array(3).fill(1));
    expect(run.published.map((p) => [p.queue, p.headers['x-warren-attempt']])).toEqual([
      ['ingest.retry.1s', 2],
      ['ingest.retry.1s', 2],
      ['ingest.retry.1s', 2],
    ]);
  });
});

describe('BatchCollector', () => {
  it('hands over a full batch at once and a partial one after the window', async () => {
    const batches: number[][] = [];
    const c = new BatchCollector<number>(3, 30, (items) => batches.push(items));
    [1, 2, 3, 4].forEach((n) => c.add(n));
    expect(batches).toEqual([[1, 2, 3]]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });
});
