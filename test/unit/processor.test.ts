/**
 * A replica's message path (runtime/replica/process.ts) with a fake Settle and a fake publisher: what
 * is published where, in which order against the settlement, and that every delivery is settled once.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { createProcessor, Settle, type Delivery, type ProcessorDeps, type Publish } from '../../runtime/replica/process';
import { jsonDelivery, quietDeps, recordingSettle } from '../testkit/delivery';
import type { PublishTarget } from '../../runtime/replica/publish-target';
import { ReplicaStats } from '../../runtime/replica-protocol/stats';
import { DEFAULTS, type FunctionConfig } from '../../runtime/config/types';
import { Reject, type Handler } from '../../runtime/index';
import { createRateBuffer, SharedRate } from '../../runtime/ratelimit/shared-rate';

const fn = (over: Partial<FunctionConfig> = {}): FunctionConfig => ({
  name: 'resize',
  file: '/p/functions/resize.ts',
  queue: 'resize',
  replicas: 1,
  prefetch: 1,
  timeout: 30_000,
  retry: { attempts: 3, backoff: 'exponential', delay: 1_000, maxDelay: 60_000 },
  redeliveryLimit: 3,
  deadLetter: true,
  ordered: false,
  memoryMb: DEFAULTS.memoryMb,
  maxBodyBytes: DEFAULTS.maxBodyBytes,
  ...over,
});

type Event =
  | { publish: PublishTarget; routingKey?: string; content: unknown; headers?: Record<string, unknown> }
  | { settle: 'ack' | 'requeue'; tag?: number }
  | { refused: string };

interface RunOptions {
  config?: Partial<FunctionConfig>;
  validate?: (value: unknown) => string | null;
  /** the publisher rejects publishes to targets of these names */
  failPublishTo?: string[];
  /** ... only the first this many times (default: always) */
  failTimes?: number;
  /** how long a message whose settlement failed is held and tried again */
  holdMs?: number;
  headers?: Record<string, unknown>;
  body?: string;
  /** the death the supervisor last told this replica of */
  lastDeath?: string;
  /** message ids a lost connection cleared (runtime/replica/lost-connection.ts) */
  cleared?: string[];
}

/** Runs one delivery through a processor; returns the events in order and the replica's counters. */
async function deliver(handler: Handler, options: RunOptions = {}) {
  const events: Event[] = [];
  const logs: Array<Record<string, unknown>> = [];
  let refusals = 0;
  const publish: Publish = async (target, content, { routingKey, properties }) => {
    if (options.failPublishTo?.includes(target.name) && refusals++ < (options.failTimes ?? Infinity)) {
      events.push({ refused: target.name });
      throw new Error('the broker refused the message');
    }
    events.push({
      publish: target,
      ...(routingKey === undefined ? {} : { routingKey }),
      content,
      ...(properties?.headers ? { headers: properties.headers } : {}),
    });
  };
  const stats = new ReplicaStats();
  const stuck: string[] = [];
  const processor = createProcessor({
    fn: fn(options.config),
    version: 'v1',
    queueType: 'quorum',
    handler,
    validate: options.validate ?? null,
    publish,
    log: pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
    ...(options.lastDeath ? { lastDeath: options.lastDeath } : {}),
    stats,
    now: () => performance.now(),
    onStuck: (reason) => stuck.push(reason),
    ...(options.holdMs === undefined ? {} : { holdMs: options.holdMs }),
    ...(options.cleared ? { isCleared: (d: Delivery) => options.cleared!.includes(d.properties.messageId!) } : {}),
  });
  let settlements = 0;
  const settle = new Settle(
    {
      ack: () => {
        settlements++;
        events.push({ settle: 'ack' });
      },
      nack: () => {
        settlements++;
        events.push({ settle: 'requeue' });
      },
    },
    1,
  );
  const delivery: Delivery = {
    content: Buffer.from(options.body ?? '{"width":10}'),
    properties: { contentType: 'application/json', messageId: 'm1', headers: options.headers ?? {} },
    // A quorum queue sets `redelivered` whenever it writes its count (a count without it is not the broker's).
    fields: { exchange: 'images', routingKey: 'resize.png', redelivered: options.headers?.['x-delivery-count'] !== undefined },
  };
  await processor.handle(delivery, settle);
  expect(settlements, 'every delivery is settled exactly once').toBe(1);
  return { events, stats: stats.snapshot(), stuck, logs };
}

/** A queue of the function's own that Warren moves a message to (retry, dead letter, the back of its queue). */
const queue = (name: string): PublishTarget => ({ kind: 'queue', name, strict: true, own: true });

/** A processor of `fn()` whose handler counts its runs and publishes nothing; `over` replaces any of its deps. */
function counting(over: Partial<ProcessorDeps> = {}) {
  const runs = { count: 0 };
  const processor = createProcessor({ ...quietDeps(), fn: fn(), handler: () => void runs.count++, ...over });
  return { processor, runs };
}

describe('createProcessor', () => {
  it('acks a message whose handler succeeds, and publishes its output (confirmed) before the ack', async () => {
    const plain = await deliver(async () => undefined);
    expect(plain.events).toEqual([{ settle: 'ack' }]);
    expect(plain.stats.acked).toBe(1);

    const withOutput = await deliver(async (m) => ({ resized: (m as { width: number }).width }), {
      config: { output: { exchange: 'done', routingKey: 'resized' } },
    });
    expect(withOutput.events).toEqual([
      { publish: { kind: 'exchange', name: 'done', strict: false }, routingKey: 'resized', content: { resized: 10 } },
      { settle: 'ack' },
    ]);
  });

  it('on a failed attempt, publishes to the retry queue of the right delay with the next attempt, then acks', async () => {
    const first = await deliver(async () => {
      throw new Error('boom');
    });
    expect(first.events).toEqual([
      {
        publish: queue('resize.retry.1s'),
        content: Buffer.from('{"width":10}'),
        headers: { 'x-warren-attempt': 2, 'x-warren-original-exchange': 'images', 'x-warren-original-routing-key': 'resize.png' },
      },
      { settle: 'ack' },
    ]);
    expect(first.stats.retried).toBe(1);
    // The retry's log line says why the attempt failed.
    expect(first.logs).toContainEqual(expect.objectContaining({ msg: 'attempt 1 of 3 failed; retrying in 1000 ms', error: 'boom' }));

    const second = await deliver(
      async () => {
        throw new Error('boom');
      },
      { headers: { 'x-warren-attempt': 2 } },
    );
    expect(second.events[0]).toMatchObject({ publish: queue('resize.retry.2s'), headers: { 'x-warren-attempt': 3 } });
  });

  it('counts a result whose `then` getter throws as a failed attempt (retried), not a requeue', async () => {
    const sneaky = () => ({
      get then(): never {
        throw new Error('then getter');
      },
    });
    const run = await deliver(sneaky as unknown as Handler);
    expect(run.events).toEqual([
      expect.objectContaining({ publish: queue('resize.retry.1s'), headers: expect.objectContaining({ 'x-warren-attempt': 2 }) }),
      { settle: 'ack' },
    ]);
  });

  it('after the last attempt, dead-letters with the error headers, then acks', async () => {
    const { events, stats } = await deliver(
      async () => {
        throw new Error('boom');
      },
      { headers: { 'x-warren-attempt': 3, 'x-warren-original-exchange': 'images', 'x-warren-original-routing-key': 'resize.png' } },
    );
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      publish: queue('resize.dead'),
      headers: { 'x-warren-reason': 'error', 'x-warren-error': 'boom', 'x-warren-function': 'resize', 'x-warren-version': 'v1', 'x-warren-attempts': 3 },
    });
    expect(events[1]).toEqual({ settle: 'ack' });
    expect(stats.dead).toBe(1);
  });

  it('returns the message to the queue when a publish it depends on keeps failing while it is held (nothing is acked away)', async () => {
    const retry = await deliver(
      async () => {
        throw new Error('boom');
      },
      { failPublishTo: ['resize.retry.1s'], holdMs: 400 },
    );
    // Tried again while held (100, 200 ms), then given back: one requeue at the end, not one per refusal.
    expect(retry.events).toEqual([{ refused: 'resize.retry.1s' }, { refused: 'resize.retry.1s' }, { refused: 'resize.retry.1s' }, { settle: 'requeue' }]);
    expect(retry.stats.retried).toBe(0);
    const output = { exchange: 'done', routingKey: 'r' };
    const lastAttempt = { headers: { 'x-warren-attempt': 3 } };
    const nowhere = await deliver(async () => 'out', { config: { output }, failPublishTo: ['done', 'resize.dead'], holdMs: 0, ...lastAttempt });
    expect(nowhere.events).toEqual([{ refused: 'done' }, { refused: 'resize.dead' }, { settle: 'requeue' }]);
  });

  it('holds a message whose retry copy the broker refused (a queue electing its leader) and tries again, instead of requeueing it at once', async () => {
    const { events, stats } = await deliver(
      async () => {
        throw new Error('boom');
      },
      { failPublishTo: ['resize.retry.1s'], failTimes: 2 },
    );
    // Each return to the queue would count as a delivery without settlement: none happens.
    expect(events).toEqual([
      { refused: 'resize.retry.1s' },
      { refused: 'resize.retry.1s' },
      expect.objectContaining({ publish: queue('resize.retry.1s'), headers: expect.objectContaining({ 'x-warren-attempt': 2 }) }),
      { settle: 'ack' },
    ]);
    expect(stats.retried).toBe(1);
  });

  it("counts the handler's time, not the settlement's: a retry copy held while the broker refuses it adds nothing", async () => {
    const { stats } = await deliver(
      async () => {
        throw new Error('boom');
      },
      // held 100 ms, then 200 ms, before the copy is taken
      { failPublishTo: ['resize.retry.1s'], failTimes: 2 },
    );
    expect(stats.durationCount).toBe(1);
    expect(stats.durationSumMs).toBeLessThan(100);
    expect(stats.inFlight).toBe(0);
  });

  it('holds a message it moves aside when the broker refuses the copy, and acks it once the copy is taken', async () => {
    const { events } = await deliver(async () => 'never runs', { headers: { 'x-delivery-count': 1 }, failPublishTo: ['resize.retry.1s'], failTimes: 1 });
    expect(events).toEqual([
      { refused: 'resize.retry.1s' },
      expect.objectContaining({ publish: queue('resize.retry.1s'), headers: expect.objectContaining({ 'x-warren-redeliveries': 1 }) }),
      { settle: 'ack' },
    ]);
  });

  it('treats an output the broker refused as a failed attempt (retried, not acked away)', async () => {
    const { events } = await deliver(async () => 'out', { config: { output: { exchange: 'done', routingKey: 'r' } }, failPublishTo: ['done'] });
    expect(events).toEqual([
      { refused: 'done' },
      expect.objectContaining({ publish: queue('resize.retry.1s'), headers: expect.objectContaining({ 'x-warren-attempt': 2 }) }),
      { settle: 'ack' },
    ]);
  });

  it('dead-letters a schema failure without running the handler', async () => {
    let ran = false;
    const { events } = await deliver(
      async () => {
        ran = true;
      },
      { validate: () => 'message must have property height' },
    );
    expect(ran).toBe(false);
    expect(events[0]).toMatchObject({
      publish: queue('resize.dead'),
      headers: { 'x-warren-reason': 'schema', 'x-warren-error': expect.stringContaining('height') },
    });
    expect(events[1]).toEqual({ settle: 'ack' });
  });

  it('dead-letters a Reject at once, on its first attempt', async () => {
    const { events } = await deliver(async () => {
      throw new Reject('not an image');
    });
    expect(events[0]).toMatchObject({ publish: queue('resize.dead'), headers: { 'x-warren-reason': 'reject', 'x-warren-attempts': 1 } });
    expect(events[1]).toEqual({ settle: 'ack' });
  });

  it('says a Reject with no reason was rejected by the handler, rather than writing {"name":"Reject"} as the error', async () => {
    const { events } = await deliver(async () => {
      throw new (Reject as unknown as new () => Error)();
    });
    expect(events[0]).toMatchObject({
      publish: queue('resize.dead'),
      headers: { 'x-warren-reason': 'reject', 'x-warren-error': 'rejected by the handler, with no reason given' },
    });
  });

  it('counts a timeout as a failed attempt, aborts ctx.signal, and names the reason on the last one', async () => {
    let aborted = false;
    const hangs: Handler = (_m, ctx) =>
      new Promise((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          aborted = true;
          resolve(undefined);
        }),
      );
    const first = await deliver(hangs, { config: { timeout: 20 } });
    expect(aborted).toBe(true);
    expect(first.events[0]).toMatchObject({ publish: queue('resize.retry.1s') });
    const last = await deliver(hangs, { config: { timeout: 20 }, headers: { 'x-warren-attempt': 3 } });
    expect(last.events[0]).toMatchObject({ publish: queue('resize.dead'), headers: { 'x-warren-reason': 'timeout' } });
    expect(last.stuck).toEqual([]);
  });

  it('dead-letters a body over maxBodySize and one that is not the JSON it claims to be, without running the handler', async () => {
    let ran = false;
    const handler = async () => void (ran = true);
    const large = await deliver(handler, { config: { maxBodyBytes: 4 } });
    expect(large.events[0]).toMatchObject({ publish: queue('resize.dead'), headers: { 'x-warren-reason': 'too-large' } });
    const broken = await deliver(handler, { body: '{nope' });
    expect(broken.events[0]).toMatchObject({ publish: queue('resize.dead'), headers: { 'x-warren-reason': 'invalid-json' } });
    expect(ran).toBe(false);
  });

  it('sends a message the broker handed back to wait aside without running it, with its count and the last death', async () => {
    let ran = false;
    const { events, stats } = await deliver(async () => void (ran = true), { headers: { 'x-delivery-count': 1 }, lastDeath: 'event loop blocked for 2100 ms' });
    expect(ran).toBe(false);
    expect(events).toEqual([
      {
        publish: queue('resize.retry.1s'),
        content: Buffer.from('{"width":10}'),
        headers: {
          'x-warren-redeliveries': 1,
          'x-warren-last-death': 'event loop blocked for 2100 ms',
          'x-warren-original-exchange': 'images',
          'x-warren-original-routing-key': 'resize.png',
        },
      },
      { settle: 'ack' },
    ]);
    expect(stats.acked + stats.dead + stats.retried).toBe(0);
  });

  it('runs at once a message handed back by a lost connection, where a suspect would wait aside or run alone; past the limit it is still dead-lettered', async () => {
    for (const headers of [{ 'x-delivery-count': 1 }, { 'x-warren-redeliveries': 1 }]) {
      let ran = false;
      const { events, stats } = await deliver(async () => void (ran = true), { headers, cleared: ['m1'] });
      expect(ran).toBe(true);
      expect(events).toEqual([{ settle: 'ack' }]);
      expect(stats.acked).toBe(1);
    }
    const other = await deliver(async () => undefined, { headers: { 'x-delivery-count': 1 }, cleared: ['m2'] });
    expect(other.events[0]).toMatchObject({ publish: queue('resize.retry.1s') });
    const past = await deliver(async () => undefined, { headers: { 'x-delivery-count': 4 }, cleared: ['m1'] });
    expect(past.events[0]).toMatchObject({ publish: queue('resize.dead'), headers: { 'x-warren-reason': 'delivery-limit' } });
  });

  it("dead-letters past redeliveryLimit with Warren's headers and the last death it knew", async () => {
    let ran = false;
    const carried = { 'x-warren-redeliveries': 4, 'x-warren-last-death': 'thread exited with code 1' };
    const { events } = await deliver(async () => void (ran = true), { headers: carried });
    expect(ran).toBe(false);
    expect(events[0]).toMatchObject({
      publish: queue('resize.dead'),
      headers: {
        'x-warren-function': 'resize',
        'x-warren-reason': 'delivery-limit',
        'x-warren-last-death': 'thread exited with code 1',
        // four deliveries ended unsettled, each a run; this fifth one never starts
        'x-warren-attempts': 4,
        'x-warren-error': expect.stringContaining('the last replica died of: thread exited with code 1'),
      },
    });
    expect(events[0]).not.toHaveProperty(['headers', 'x-warren-redeliveries']);
    expect(events[1]).toEqual({ settle: 'ack' });
  });

  it('does not run a delivery already handed back (requeued at shutdown), and leaves the in-flight count at zero', async () => {
    const stats = new ReplicaStats();
    const { processor, runs } = counting({ stats });
    const frames: string[] = [];
    const settle = recordingSettle(1, frames);
    settle.requeue();
    await processor.handle(jsonDelivery('resize'), settle);
    expect(runs.count).toBe(0);
    expect(frames).toEqual(['requeue 1']);
    expect(stats.snapshot().inFlight).toBe(0);
    expect(processor.inFlight.size).toBe(0);
  });

  it('does not start a message whose connection was lost while it waited for its rate-limit turn: the broker hands it out again', async () => {
    const rate = new SharedRate(createRateBuffer(1), 1, 300);
    const { processor, runs } = counting({ waitTurn: (n, start) => rate.turn(n, start) });
    const frames: string[] = [];
    let alive = true;
    const take = (tag: number) =>
      processor.handle(
        jsonDelivery('resize'),
        recordingSettle(tag, frames, () => alive),
      );
    await take(1);
    const waiting = take(2); // its turn is 300 ms away
    alive = false;
    await waiting;
    expect(runs.count).toBe(1);
    expect(frames).toEqual(['ack 1']);
    expect(processor.inFlight.size).toBe(0);
  });

  it.each([
    [false, 'a copy at the back of its own queue with the counts it came with, then an ack'],
    [true, 'a requeue in place (ordered)'],
  ])('at drain, hands back a message still waiting for its rate-limit turn, unstarted (ordered: %s): %s', async (ordered) => {
    const rate = new SharedRate(createRateBuffer(1), 1, 60_000);
    const events: Event[] = [];
    let ran = 0;
    const processor = createProcessor({
      fn: fn({ ordered }),
      version: 'v1',
      queueType: 'quorum',
      handler: () => void ran++,
      validate: null,
      publish: async (target, content, { properties }) => void events.push({ publish: target, content, headers: properties!.headers! }),
      log: pino({ level: 'silent' }),
      stats: new ReplicaStats(),
      now: () => performance.now(),
      onStuck: () => undefined,
      waitTurn: (n, start) => rate.turn(n, start),
    });
    const take = (tag: number) => {
      const settle = new Settle({ ack: (t) => void events.push({ settle: 'ack', tag: t }), nack: (t) => void events.push({ settle: 'requeue', tag: t }) }, tag);
      const headers = { 'x-warren-attempt': 2, 'x-warren-original-exchange': 'images', 'x-warren-original-routing-key': 'resize.png' };
      return processor.handle(
        {
          content: Buffer.from(`{"n":${tag}}`),
          properties: { contentType: 'application/json', messageId: `m${tag}`, headers },
          fields: { exchange: '', routingKey: 'resize', redelivered: false },
        },
        settle,
      );
    };
    await take(1); // the turn is free: it runs
    const waiting = take(2); // its turn is a minute away
    expect(processor.handBackWaiting()).toBe(1);
    const late = take(3); // asks for a turn once the replica drains: handed back at once
    await Promise.all([waiting, late]);
    expect(ran).toBe(1);
    expect(processor.inFlight.size).toBe(0);
    const back = (tag: number) =>
      ordered
        ? [{ settle: 'requeue', tag }]
        : [
            {
              publish: queue('resize'),
              content: Buffer.from(`{"n":${tag}}`),
              headers: { 'x-warren-attempt': 2, 'x-warren-original-exchange': 'images', 'x-warren-original-routing-key': 'resize.png' },
            },
            { settle: 'ack', tag },
          ];
    // Each delivery's own events, in order (the two hand-backs interleave).
    const of = (tag: number) => events.filter((e) => ('settle' in e ? e.tag === tag : 'content' in e && String(e.content) === `{"n":${tag}}`));
    expect(of(1)).toEqual([{ settle: 'ack', tag: 1 }]);
    expect(of(2)).toEqual(back(2));
    expect(of(3)).toEqual(back(3));
    expect(events).toHaveLength(1 + back(2).length * 2);
  });
});

describe('a suspect among suspects bouncing off the replica', () => {
  it('starts once what it came with is out of hand, while other suspects keep arriving and going aside', async () => {
    const moved: string[] = [];
    const ran: string[] = [];
    const publish: Publish = async (target, _content, { properties }) => void moved.push(`${target.name} ${properties?.messageId}`);
    const processor = createProcessor({
      fn: fn(),
      version: 'v1',
      queueType: 'quorum',
      handler: async (_body, ctx) => void ran.push(ctx.messageId!),
      validate: null,
      publish,
      log: pino({ level: 'silent' }),
      stats: new ReplicaStats(),
      now: () => performance.now(),
      onStuck: () => undefined,
    });
    let settled = 0;
    const suspect = (id: string, tag: number) => {
      const delivery: Delivery = {
        content: Buffer.from('{}'),
        properties: { contentType: 'application/json', messageId: id, headers: { 'x-warren-redeliveries': 1 } },
        fields: { exchange: '', routingKey: 'resize', redelivered: false },
      };
      return processor.handle(delivery, new Settle({ ack: () => settled++, nack: () => settled++ }, tag));
    };
    const began = performance.now();
    let firstRanAfter = -1;
    const first = suspect('first', 1).then(() => (firstRanAfter = performance.now() - began));
    // After a broker restart every message in flight comes back a suspect: the others arrive every
    // 10 ms for 600 ms, each going aside again while a suspect is isolating, run alone otherwise.
    for (let i = 0; i < 60; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      await suspect(`other-${i}`, i + 2);
    }
    await first;
    expect(ran[0]).toBe('first');
    expect(moved.every((m) => m.startsWith('resize.retry.1s other-'))).toBe(true);
    expect(ran.length + moved.length).toBe(61);
    expect(settled).toBe(61);
    // Their arrivals do not hold it: it ran once the quiet of 50 ms had passed, not after them all.
    expect(firstRanAfter).toBeGreaterThan(0);
    expect(firstRanAfter).toBeLessThan(400);
  });
});
