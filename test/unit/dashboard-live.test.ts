/** The dashboard's live figures, pure (runtime/admin/live-frame.ts), and what the page finds in a dead letter search. */
import { liveFunctionOf } from '../testkit/live-function';
import { describe, expect, it } from 'vitest';
import { arrivals, delta, historyOf, liveFunction, quantileMs, round, type LiveFrame, type Sample } from '../../runtime/admin/live-frame';
import { settingsOf, type FunctionView } from '../../runtime/admin/view';
import { DEFAULTS, type FunctionConfig } from '../../runtime/config/types';
import { matchesSearch } from '../../runtime/deadletters/search';
import { describeDeadLetter, describeDeadLetterFully, keyOf, replayProperties } from '../../runtime/deadletters/describe';
import { describeTopology } from '../../runtime/admin/topology-view';
import { LiveFeed } from '../../runtime/admin/live-feed';
import { LATENCY_BOUNDS_MS, latencyBucket, ReplicaStats } from '../../runtime/replica-protocol/stats';

const BOUNDS = [1, 5, 10, 25, 50, 100];

describe('quantileMs', () => {
  it('interpolates inside the bucket holding the rank, as histogram_quantile does', () => {
    // 100 observations: 50 in (5,10], 50 in (10,25]
    const buckets = [0, 0, 50, 50, 0, 0, 0];
    expect(quantileMs(buckets, 0.5, BOUNDS)).toBe(10);
    expect(quantileMs(buckets, 0.95, BOUNDS)).toBe(23.5);
    expect(quantileMs([10, 0, 0, 0, 0, 0, 0], 0.5, BOUNDS)).toBe(0.5);
  });

  it('is null without observations, and the last bound for the +Inf bucket', () => {
    expect(quantileMs([0, 0, 0, 0, 0, 0, 0], 0.5, BOUNDS)).toBeNull();
    expect(quantileMs([0, 0, 0, 0, 0, 0, 4], 0.95, BOUNDS)).toBe(100);
  });
});

describe('liveFunction', () => {
  const view: FunctionView = {
    name: 'orders',
    queue: 'orders',
    version: 'abc',
    replicas: { desired: 2, running: 2 },
    restarts: 1,
    lastError: 'exit 1',
    inFlight: 3,
    handled: 200,
    failed: 4,
    messages: { acked: 196, retried: 2, dead: 4, dropped: 0, redelivered: 0 },
    queueDepth: 12,
    deadLetterQueue: 'orders.dead',
    deadLetterDepth: 4,
    retryDepth: 2,
  };
  const sample = (at: number, handled: number, failed: number, buckets: number[]): Sample => ({ at, handled, failed, buckets });

  /** latency buckets (LATENCY_BOUNDS_MS) holding `n` observations of each duration given */
  const observed = (n: number, ...ms: number[]) => {
    const buckets = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    for (const d of ms) buckets[latencyBucket(d)]! += n;
    return buckets;
  };

  it('gives rates and latency over the window: 200 handled in 5 s is 40 a second, however they fell within it', () => {
    const older = sample(0, 0, 0, observed(0));
    // 100 took 3 ms, 100 took 7 ms
    const now = sample(5_000, 200, 4, observed(100, 3, 7));
    const live = liveFunction(view, now, older);
    expect(live).toMatchObject({ name: 'orders', desired: 2, running: 2, restarts: 1, lastError: 'exit 1', inFlight: 3, queueDepth: 12, deadLetterDepth: 4 });
    expect(live.handledPerSec).toBe(40);
    expect(live.failedPerSec).toBe(0.8);
    expect(live.p50Ms).toBeGreaterThanOrEqual(3);
    expect(live.p50Ms).toBeLessThanOrEqual(3.3);
  });

  it('carries how the function runs: the prefetch and batch it really uses, its rate, order and schedule; nothing before its config is known', () => {
    const fn = {
      name: 'ingest',
      queue: 'ingest',
      prefetch: 1,
      timeout: 30_000,
      retry: { attempts: 5, backoff: 'exponential', delay: 1_000, maxDelay: 60_000 },
      ordered: true,
      batch: { size: 100, windowMs: 200 },
      rateLimit: { count: 50, periodMs: 1_000 },
      memoryMb: DEFAULTS.memoryMb,
    } as unknown as FunctionConfig;
    const schedule = {
      schedule: '0 2 * * *',
      timezone: 'Europe/Paris',
      emitting: true,
      next: '2026-11-30T01:00:00.000Z',
      lastTick: '2026-11-29T01:00:00.000Z',
      lastRun: { scheduledAt: '2026-11-29T01:00:00.000Z', outcome: 'dead', at: '2026-11-29T01:00:01.000Z' },
    };
    const at = sample(1_000, 0, 0, observed(0));
    const live = liveFunction({ ...view, queue: 'ingest', settings: settingsOf(fn), schedule }, at, at);
    // rateLimit 50/s caps the batch at 50, and an ordered function holds one batch.
    expect(live.setup).toEqual({
      queue: 'ingest',
      prefetch: 50,
      timeoutMs: 30_000,
      attempts: 5,
      ordered: true,
      batch: { size: 50, windowMs: 200 },
      rateLimit: '50/s',
      schedule: {
        cron: '0 2 * * *',
        timezone: 'Europe/Paris',
        next: '2026-11-30T01:00:00.000Z',
        lastRun: { scheduledAt: '2026-11-29T01:00:00.000Z', outcome: 'dead' },
      },
    });
    expect(liveFunction(view, at, at).setup).toBeNull();
  });

  it('shows as running the replicas that consume, as `warren status` does: none while every replica reconnects to the broker', () => {
    const older = sample(0, 0, 0, observed(0));
    const now = sample(1_000, 0, 0, observed(0));
    expect(liveFunction({ ...view, replicas: { desired: 2, running: 2, connected: 0 } }, now, older).running).toBe(0);
    expect(liveFunction({ ...view, replicas: { desired: 2, running: 2, connected: 1 } }, now, older).running).toBe(1);
  });

  it("reads a handler's latency within 10 %: a 150 ms handler is not shown as 175 ms (the /metrics bucket 100-250 ms)", () => {
    const stats = new ReplicaStats();
    for (let i = 0; i < 95; i++) stats.ran(150 + (i % 5));
    for (let i = 0; i < 5; i++) stats.ran(400);
    const live = liveFunction(view, sample(5_000, 100, 0, stats.snapshot().latency), sample(0, 0, 0, observed(0)));
    // the true p50 and p95 are 152 and 154 ms
    expect(Math.abs(live.p50Ms! - 152) / 152).toBeLessThanOrEqual(0.1);
    expect(Math.abs(live.p95Ms! - 154) / 154).toBeLessThanOrEqual(0.1);
  });

  it('a burst handled in one tick reads as it came in: in and handled over the same window agree', () => {
    // 20 messages published at once into an empty queue at 4 s and handled before the next tick.
    const at = (t: number, left: number): Sample => ({ at: t, handled: left, failed: 0, buckets: [left], backlog: 0 });
    const live = liveFunction(view, at(5_000, 20), at(0, 0));
    expect(live.inPerSec).toBe(4);
    expect(live.handledPerSec).toBe(4);
  });

  it('counts arrivals as what left the queue plus what its backlog grew by, over the window; unknown without a depth', () => {
    const at = (t: number, left: number, backlog: number | null): Sample => ({ at: t, handled: left, failed: 0, buckets: [0], backlog });
    // 3 s: 300 handled and the backlog grew by 150: 150 arrived a second
    expect(liveFunction(view, at(5_000, 400, 200), at(2_000, 100, 50)).inPerSec).toBe(150);
    // a function scaled to 0: nothing handled, the queue grows by 15 a second
    expect(arrivals(at(3_000, 0, 45), at(0, 0, 0))).toBe(15);
    // a backlog draining faster than it fills: never a negative rate
    expect(arrivals(at(1_000, 10, 0), at(0, 0, 100))).toBe(0);
    expect(arrivals(at(1_000, 10, null), at(0, 0, 0))).toBeNull();
    expect(arrivals(at(1_000, 10, 5), undefined)).toBeNull();
  });

  it('counts messages, not attempts: one retried twice then handled is one in, two retried, one handled, none failed', () => {
    const at = (t: number, s: Partial<Sample>): Sample => ({ at: t, handled: 0, failed: 0, retried: 0, buckets: [0], backlog: 0, ...s });
    const done = liveFunction(view, at(5_000, { handled: 1, retried: 2 }), at(0, {}));
    expect([done.inPerSec, done.handledPerSec, done.retriedPerSec, done.failedPerSec]).toEqual([0.2, 0.2, 0.4, 0]);
    // Still waiting in a retry queue: in, not handled yet.
    const waiting = liveFunction(view, at(5_000, { retried: 1, backlog: 1 }), at(0, {}));
    expect([waiting.inPerSec, waiting.handledPerSec, waiting.retriedPerSec]).toEqual([0.2, 0, 0.2]);
    // Out of attempts: one in, handled for good, and failed.
    const dead = liveFunction(view, at(5_000, { handled: 1, failed: 1, retried: 2 }), at(0, {}));
    expect([dead.inPerSec, dead.handledPerSec, dead.failedPerSec]).toEqual([0.2, 0.2, 0.2]);
  });

  it('starts at zero and survives counters that went down (a restart)', () => {
    const now = sample(1_000, 5, 0, [5, 0, 0, 0, 0, 0, 0]);
    expect(liveFunction(view, now, undefined).handledPerSec).toBe(0);
    expect(delta(now, sample(0, 50, 0, [50, 0, 0, 0, 0, 0, 0])).handled).toBe(5);
  });

  it('rounds to three significant digits', () => {
    expect([round(1234.5), round(12.345), round(0.012345), round(0)]).toEqual([1235, 12.3, 0.012, 0]);
  });
});

describe('historyOf', () => {
  it('turns frames into one column per series and function, with gaps where a function was absent', () => {
    const fn = (name: string, handledPerSec: number) => liveFunctionOf(name, { version: null, inPerSec: null, handledPerSec });
    const frames: LiveFrame[] = [
      { t: 1, state: 'running', ready: true, why: null, warnings: [], delayed: null, functions: [fn('a', 1)] },
      { t: 2, state: 'running', ready: true, why: null, warnings: [], delayed: null, functions: [fn('a', 2), fn('b', 5)] },
    ];
    const h = historyOf(frames);
    expect(h.t).toEqual([1, 2]);
    expect(h.functions.a!.handledPerSec).toEqual([1, 2]);
    expect(h.functions.b!.handledPerSec).toEqual([null, 5]);
  });
});

describe('LiveFeed', () => {
  it('says in each frame why the runtime is not ready, and nothing once it is', async () => {
    let ready = false;
    const feed = new LiveFeed({
      source: { read: async () => ({ state: ready ? 'running' : 'connecting', ready, why: 'waiting for the broker: ECONNREFUSED', status: [], views: [] }) },
      intervalMs: 20,
    });
    const written: string[] = [];
    const unsubscribe = feed.subscribe({ write: (chunk: string) => written.push(chunk), writableLength: 0, end: () => undefined });
    const frames = () => written.filter((w) => w.startsWith('event: frame')).map((w) => JSON.parse(w.slice(w.indexOf('data: ') + 6)) as LiveFrame);
    await expect.poll(() => frames().length).toBeGreaterThan(0);
    expect(frames()[0]).toMatchObject({ ready: false, why: 'waiting for the broker: ECONNREFUSED' });
    ready = true;
    await expect.poll(() => frames().at(-1)?.ready).toBe(true);
    expect(frames().at(-1)?.why).toBeNull();
    unsubscribe();
    feed.close();
  });
});

describe('LiveFeed before any page opens', () => {
  it('has been ticking since it started: the first page gets the frames from before it, and the source knows when a page watches', async () => {
    const watchedReads: boolean[] = [];
    const feed = new LiveFeed({
      source: {
        read: async (watched) => {
          watchedReads.push(watched);
          return { state: 'running', ready: true, why: null, status: [], views: [] };
        },
      },
      intervalMs: 20,
    });
    feed.start();
    await expect.poll(() => watchedReads.length).toBeGreaterThanOrEqual(4);
    expect(
      watchedReads.every((w) => !w),
      'no page open: every read said so',
    ).toBe(true);
    const written: string[] = [];
    const unsubscribe = feed.subscribe({ write: (chunk: string) => written.push(chunk), writableLength: 0, end: () => undefined });
    const history = written.find((w) => w.includes('event: history'));
    const frames = (JSON.parse(history!.slice(history!.indexOf('data: ') + 6)) as { t: number[] }).t;
    expect(frames.length, 'the page opened onto the minutes before it').toBeGreaterThanOrEqual(4);
    const readsBefore = watchedReads.length;
    await expect.poll(() => watchedReads.length).toBeGreaterThan(readsBefore + 1);
    expect(watchedReads.slice(readsBefore + 1).every((w) => w)).toBe(true);
    unsubscribe();
    feed.close();
  });
});

describe('dead letters on the page', () => {
  const headers = {
    'x-warren-error': 'card declined',
    'x-warren-reason': 'reject',
    'x-warren-stack': 'Error: card declined\n    at handler',
    'x-warren-original-exchange': 'shop',
    'x-warren-original-routing-key': 'order.paid',
    'x-warren-attempts': 1,
  };
  const msg = { content: Buffer.from('{"orderId":"o-42","amount":12}'), properties: { messageId: 'm-1', contentType: 'application/json', headers } };

  it('are found by every word of a search in their error, reason, id or body', () => {
    const letter = describeDeadLetter(msg);
    for (const q of ['declined', 'REJECT', 'm-1', 'o-42', 'card o-42', 'order.paid']) expect(matchesSearch(letter, msg.content, q), q).toBe(true);
    for (const q of ['timeout', 'card timeout']) expect(matchesSearch(letter, msg.content, q), q).toBe(false);
    expect(matchesSearch(letter, msg.content, '  ')).toBe(true);
  });

  it('are named by their message id, else by a stable hash', () => {
    expect(keyOf(msg)).toBe('m-1');
    const anonymous = { content: Buffer.from('x'), properties: { headers: { a: 1 } } };
    expect(keyOf(anonymous)).toMatch(/^~[0-9a-f]{16}$/);
    expect(keyOf(anonymous)).toBe(keyOf({ content: Buffer.from('x'), properties: { headers: { a: 1 } } }));
    expect(keyOf(anonymous)).not.toBe(keyOf({ content: Buffer.from('y'), properties: { headers: { a: 1 } } }));
    // a quorum queue counts each read that hands it back: the key stays
    expect(keyOf({ content: Buffer.from('x'), properties: { headers: { a: 1, 'x-delivery-count': 7 } } })).toBe(keyOf(anonymous));
    // and hands it back with its header table sorted: the key stays too
    const asDeadLettered = { content: Buffer.from('x'), properties: { headers: { 'x-warren-function': 'f', 'x-warren-error': 'e', nested: { b: 1, a: 2 } } } };
    const asHandedBack = {
      content: Buffer.from('x'),
      properties: { headers: { 'x-delivery-count': 1, nested: { a: 2, b: 1 }, 'x-warren-error': 'e', 'x-warren-function': 'f' } },
    };
    expect(keyOf(asHandedBack)).toBe(keyOf(asDeadLettered));
  });

  it('open with their stack and whole body; a binary body as base64', () => {
    const full = describeDeadLetterFully(msg);
    expect(full).toMatchObject({
      key: 'm-1',
      stack: 'Error: card declined\n    at handler',
      contentType: 'application/json',
      body: '{"orderId":"o-42","amount":12}',
      bodyEncoding: 'utf8',
    });
    const binary = describeDeadLetterFully({ content: Buffer.from([0xff, 0xfe, 0x00]), properties: {} });
    expect(binary).toMatchObject({ body: '//4A', bodyEncoding: 'base64' });
  });

  it('are replayed with their original route in the headers (the copy goes through the default exchange)', () => {
    const props = replayProperties({ messageId: 'm-1', headers }, { exchange: 'shop', routingKey: 'order.paid' });
    expect(props.headers).toEqual({ 'x-warren-original-exchange': 'shop', 'x-warren-original-routing-key': 'order.paid' });
  });
});

describe('describeTopology', () => {
  it('lists exchanges, queues with their dead-letter queue, bindings and functions', () => {
    const config = {
      exchanges: { shop: { name: 'shop', type: 'topic' } },
      queues: { orders: { name: 'orders', type: 'quorum' }, audit: { name: 'audit', type: 'classic' } },
      bindings: [
        { exchange: 'shop', queue: 'orders', routingKey: 'order.*' },
        { exchange: 'shop', queue: 'amq.fanout', toExchange: true, routingKey: 'order.#' },
        { exchange: 'amq.topic', queue: 'audit', routingKey: '#', arguments: {} },
        { exchange: 'amq.headers', queue: 'audit', routingKey: '', arguments: { 'x-match': 'all', kind: 'slow' } },
      ],
      functions: { orders: { name: 'orders', queue: 'orders', deadLetter: true, output: { exchange: 'shop', routingKey: 'order.done' } } },
    } as unknown as Parameters<typeof describeTopology>[0];
    expect(describeTopology(config)).toEqual({
      // RabbitMQ's own exchanges that a binding uses, so their bindings are drawn from a box
      exchanges: [
        { name: 'shop', type: 'topic' },
        { name: 'amq.fanout', type: 'fanout' },
        { name: 'amq.topic', type: 'topic' },
        { name: 'amq.headers', type: 'headers' },
      ],
      queues: [
        { name: 'orders', type: 'quorum', deadLetterQueue: 'orders.dead' },
        { name: 'audit', type: 'classic', deadLetterQueue: null },
      ],
      bindings: [
        { exchange: 'shop', queue: 'orders', toExchange: false, routingKey: 'order.*' },
        { exchange: 'shop', queue: 'amq.fanout', toExchange: true, routingKey: 'order.#' },
        { exchange: 'amq.topic', queue: 'audit', toExchange: false, routingKey: '#' },
        // a headers binding says what it matches
        { exchange: 'amq.headers', queue: 'audit', toExchange: false, routingKey: '', arguments: { 'x-match': 'all', kind: 'slow' } },
      ],
      functions: [{ name: 'orders', queue: 'orders', output: { exchange: 'shop', routingKey: 'order.done' } }],
    });
    expect(describeTopology(undefined).functions).toEqual([]);
  });
});
