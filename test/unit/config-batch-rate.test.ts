import { describe, expect, it } from 'vitest';
import { effectiveBatch, effectivePrefetch } from '../../runtime/config/prefetch';
import { parseRate } from '../../runtime/config/units';
import { handler, load, problems, project, summary } from '../fixtures/config/project';

const lines = (...l: string[]): string => l.join('\n') + '\n';

describe('batch and rateLimit in queues.yaml', () => {
  it('reads batch (window defaults to 200ms) and rateLimit per second or per minute', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines('functions:', '  a: { batch: { size: 50, window: 1s }, rateLimit: 100/s }', '  b: { batch: { size: 10 }, rateLimit: 30/min }'),
    });
    const config = await load(dir);
    expect(config.functions.a).toMatchObject({ batch: { size: 50, windowMs: 1_000 }, rateLimit: { count: 100, periodMs: 1_000 } });
    expect(config.functions.b).toMatchObject({ batch: { size: 10, windowMs: 200 }, rateLimit: { count: 30, periodMs: 60_000 } });
  });

  it('refuses a batch window longer than 5 minutes: the partial batch is held unacked, past RabbitMQ consumer_timeout', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines('functions:', '  a: { batch: { size: 10, window: 1h } }', '  b: { batch: { size: 10, window: 5m } }'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 35, key: 'functions.a.batch.window' },
    ]);
    expect(errors[0]?.details.expected).toBe('at most 5m');
    expect(errors[0]?.details.hint).toContain('schedule:');
  });

  it('refuses a rateLimit beyond what a runtime could start at its line, instead of failing the function at start', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines('functions:', '  a: { rateLimit: 99999999999/s }', '  b: { rateLimit: 100000/min }'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 19, key: 'functions.a.rateLimit' },
    ]);
    expect(errors[0]?.details.expected).toBe('at most 100,000 per second or per minute');
    expect(errors[0]?.details.hint).toContain('leave rateLimit out');
  });

  it('refuses a rateLimit whose replicas would hold a message unacked past consumer_timeout, naming how many replicas fit', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines('functions:', '  a: { rateLimit: 1/min, replicas: 100 }', '  b: { rateLimit: 1/min, replicas: 20 }'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 2, column: 19, key: 'functions.a.rateLimit' },
    ]);
    expect(errors[0]?.message).toContain('up to 1h40m');
    expect(errors[0]?.details.hint).toContain('at most 20 replicas');
  });

  it('refuses batch with output where it was written, with a hint; accepts batch with ordered (SPEC: batch combines with every other key)', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  ev: { type: topic }',
        'functions:',
        '  a:',
        '    batch: { size: 10 }',
        '    output: { exchange: ev }',
        '  b:',
        '    batch: { size: 10 }',
        '    ordered: true',
      ),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 6, column: 5, key: 'functions.a.output' },
    ]);
    expect(errors[0]?.details.hint).toContain('ctx.publish');
  });

  it("accepts SPEC's ingest, a batch larger than its rate: the batches it runs hold what the rate lets start at once", async () => {
    const dir = await project({
      'functions/ingest.ts': handler,
      'queues.yaml': lines('functions:', '  ingest:', '    batch: { size: 100, window: 200ms }', '    rateLimit: 50/s'),
    });
    const fn = (await load(dir)).functions.ingest!;
    expect(fn.batch).toEqual({ size: 100, windowMs: 200 });
    const { batch, changes } = effectiveBatch(fn);
    expect(batch).toEqual({ size: 50, windowMs: 200 });
    expect(changes.join()).toContain('capped at 50 by rateLimit 50/s');
    expect(effectivePrefetch(fn).prefetch).toBe(50);
    expect(effectiveBatch({ batch: { size: 3, windowMs: 0 }, rateLimit: { count: 1, periodMs: 60_000 } }).batch?.size).toBe(1);
    expect(effectiveBatch({ batch: { size: 20, windowMs: 0 }, rateLimit: { count: 20, periodMs: 1_000 } })).toEqual({
      batch: { size: 20, windowMs: 0 },
      changes: [],
    });
  });

  it('refuses a malformed rate or batch at its value', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines('functions:', '  a: { rateLimit: fast, batch: { size: 0 } }') });
    const codes = (await problems(dir)).map((e) => [e.code, e.details.key]);
    expect(codes).toContainEqual(['WARREN_E_CONFIG_TYPE', 'functions.a.rateLimit']);
    expect(codes).toContainEqual(['WARREN_E_CONFIG_TYPE', 'functions.a.batch.size']);
  });
});

describe('parseRate', () => {
  it('reads N/s and N/min, refuses the rest', () => {
    expect(parseRate('100/s')).toEqual({ count: 100, periodMs: 1_000 });
    expect(parseRate(' 5 / min ')).toEqual({ count: 5, periodMs: 60_000 });
    expect(parseRate('0/s')).toBeUndefined();
    expect(parseRate('100/h')).toBeUndefined();
    expect(parseRate(100)).toBeUndefined();
  });
});

describe('effectivePrefetch', () => {
  const base = { prefetch: 10, ordered: false, replicas: 1 };
  it('raises prefetch to batch.size and says so', () => {
    const r = effectivePrefetch({ ...base, batch: { size: 100, windowMs: 200 } });
    expect(r.prefetch).toBe(100);
    expect(r.changes.join()).toContain('raised to 100');
  });
  it('caps prefetch at about one second of the rate, but never below a batch', () => {
    expect(effectivePrefetch({ ...base, prefetch: 500, rateLimit: { count: 100, periodMs: 1_000 } }).prefetch).toBe(100);
    expect(effectivePrefetch({ ...base, prefetch: 500, rateLimit: { count: 30, periodMs: 60_000 } }).prefetch).toBe(1);
    expect(effectivePrefetch({ ...base, rateLimit: { count: 100, periodMs: 60_000 }, batch: { size: 20, windowMs: 200 } }).prefetch).toBe(20);
  });
  it('leaves a plain function alone; ordered takes one message at a time, or one batch', () => {
    expect(effectivePrefetch(base)).toEqual({ prefetch: 10, changes: [] });
    expect(effectivePrefetch({ ...base, ordered: true }).prefetch).toBe(1);
    expect(effectivePrefetch({ ...base, ordered: true, batch: { size: 25, windowMs: 200 } })).toEqual({
      prefetch: 25,
      changes: ['ordered: true takes one batch at a time; prefetch is 25'],
    });
  });
});
