/**
 * Batch handlers and the rate limit against the real broker: partial failure, the window, invalid
 * items, a batch that kills its replica, and starts per second under `rateLimit`.
 */
import { readFile } from 'node:fs/promises';
import amqplib from 'amqplib';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestVhost, getAll, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, fixtureFunctions, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { collectResults, publishMany, range, release, type Collector } from '../helpers/chaos';

let vhost: TestVhost | undefined;
let project: Project | undefined;
let warren: RunningWarren | undefined;
let collector: Collector | undefined;

afterEach(async () => {
  const code = await release(warren, collector, project, vhost);
  warren = project = vhost = collector = undefined;
  expect(code ?? 0).toBe(0);
});

/** A fixture handler's source, importing the runtime as a project outside this repository does. */
const fixture = async (name: string) => (await readFile(join(fixtureFunctions, `${name}.ts`), 'utf8')).replace("from '../../../runtime'", "from 'warren'");
const recorded = (c: Collector, fn: string) => c.of(fn) as unknown as Array<{ id: number | string; attempt: number; batch: number; at: number }>;

async function start(name: string, yaml: string, handler: string): Promise<{ url: string; c: Collector; w: RunningWarren }> {
  vhost = await createTestVhost(name);
  project = await createProject(`queues:\n  results: { type: classic }\nfunctions:\n${yaml}`, {
    [handler === 'stamp' ? 'limited' : 'ingest']: await fixture(handler),
  });
  warren = await startWarren(project.dir, vhost.url);
  collector = await collectResults(vhost.url);
  return { url: vhost.url, c: collector, w: warren };
}

async function deadLetters(url: string, queue: string, count: number) {
  await waitFor(async () => (await queueInfo(url, queue)).messageCount >= count, 45_000, 100);
  return (await getAll(url, queue)).map((m) => ({ body: JSON.parse(m.content.toString()) as { id: unknown }, headers: m.properties.headers ?? {} }));
}

/** The most starts (ms timestamps) in any window of 1 s. */
function mostInAnySecond(at: number[]): number {
  const starts = [...at].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0; i < starts.length; i++) {
    let j = i;
    while (j < starts.length && starts[j]! < starts[i]! + 1_000) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

describe('batch functions', () => {
  it('handles 250 messages in batches: failing items retried then dead-lettered with their error, the rejected one at once, every other item exactly once', async () => {
    const { url, c, w } = await start(
      'batch-partial',
      '  ingest: { batch: { size: 100, window: 100ms }, retry: { attempts: 2, delay: 100ms } }\n',
      'batch-recorder',
    );
    const failing = new Set([7, 120, 249]);
    const bodies = range(250).map((id) => (failing.has(id) ? { id, fail: true } : id === 42 ? { id, reject: true } : { id }));
    await publishMany(url, 'ingest', bodies);

    const dead = await deadLetters(url, 'ingest.dead', 4);
    await waitFor(() => c.of('ingest').length >= 246, 45_000, 100);
    const handled = recorded(c, 'ingest').map((r) => r.id);
    expect(handled.length).toBe(246);
    expect(new Set(handled).size).toBe(246);
    expect(handled.some((id) => failing.has(id as number) || id === 42)).toBe(false);
    expect(Math.max(...recorded(c, 'ingest').map((r) => r.batch))).toBeGreaterThan(1);
    const byId = new Map(dead.map((d) => [d.body.id, d.headers]));
    expect([...byId.keys()].sort()).toEqual([7, 42, 120, 249].sort());
    for (const id of failing)
      expect(byId.get(id)).toMatchObject({ 'x-warren-reason': 'error', 'x-warren-attempts': 2, 'x-warren-error': expect.stringContaining('failed') });
    expect(byId.get(42)).toMatchObject({ 'x-warren-reason': 'reject', 'x-warren-attempts': 1 });
    const metrics = await (await fetch(`http://127.0.0.1:${w.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/warren_batch_size_count\{function="ingest"\} [1-9]/);
    expect(metrics).toMatch(/warren_batch_size_sum\{function="ingest"\} 25[0-9]/);
    expect(w.logs.some((l) => String(l.msg).startsWith('prefetch raised to 100'))).toBe(true);
  }, 120_000);

  it("shows each item where it was published and its properties, a retried item too (not the retry queue's route)", async () => {
    const { url, c } = await start('batch-route', '  ingest: { batch: { size: 10, window: 100ms }, retry: { attempts: 2, delay: 100ms } }\n', 'batch-recorder');
    const conn = await amqplib.connect(url);
    await (await conn.createChannel()).bindQueue('ingest', 'amq.topic', 'order.*');
    await conn.close();
    await publishRaw(url, 'amq.topic', 'order.created', JSON.stringify({ id: 'once', failOnce: true }), {
      contentType: 'application/json',
      correlationId: 'k-1',
    });
    await publishRaw(url, 'amq.topic', 'order.created', JSON.stringify({ id: 'plain' }), { contentType: 'application/json', correlationId: 'k-2' });
    await waitFor(() => c.of('ingest').length >= 2, 15_000, 50);
    const seen = (c.of('ingest') as unknown as Array<Record<string, unknown>>).map(({ id, attempt, exchange, routingKey, correlationId }) => ({
      id,
      attempt,
      exchange,
      routingKey,
      correlationId,
    }));
    expect(seen.sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual([
      { id: 'once', attempt: 2, exchange: 'amq.topic', routingKey: 'order.created', correlationId: 'k-1' },
      { id: 'plain', attempt: 1, exchange: 'amq.topic', routingKey: 'order.created', correlationId: 'k-2' },
    ]);
  });

  it('does not hold a trickle of messages until a batch fills: each is handled within about the window', async () => {
    const { url, c } = await start('batch-window', '  ingest: { batch: { size: 100, window: 200ms } }\n', 'batch-recorder');
    for (const id of range(3)) {
      const sent = Date.now();
      await publishMany(url, 'ingest', [{ id }]);
      await waitFor(() => c.of('ingest').length === id + 1, 5_000, 20);
      // handled on its own, well before the next one is sent
      expect(recorded(c, 'ingest')[id]).toMatchObject({ id, batch: 1 });
      expect(recorded(c, 'ingest')[id]!.at - sent).toBeLessThan(2_000);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  it('dead-letters invalid JSON and schema failures one by one; the valid items reach the handler', async () => {
    const { url, c } = await start(
      'batch-invalid',
      '  ingest: { batch: { size: 10, window: 300ms }, schema: { type: object, required: [id] } }\n',
      'batch-recorder',
    );
    await publishRaw(url, '', 'ingest', Buffer.from('{"id": 1}'), { contentType: 'application/json' });
    await publishRaw(url, '', 'ingest', Buffer.from('{broken'), { contentType: 'application/json' });
    await publishRaw(url, '', 'ingest', Buffer.from('{"nope": 2}'), { contentType: 'application/json' });
    await publishRaw(url, '', 'ingest', Buffer.from('{"id": 3}'), { contentType: 'application/json' });
    const dead = await getDead(url, 2);
    expect(dead.map((d) => [d.body, d.reason]).sort()).toEqual([
      ['{"nope": 2}', 'schema'],
      ['{broken', 'invalid-json'],
    ]);
    await waitFor(() => c.of('ingest').length === 2, 30_000, 50);
    expect(
      recorded(c, 'ingest')
        .map((r) => r.id)
        .sort(),
    ).toEqual([1, 3]);
  });

  it('a batch that kills its replica: each item counted, the poison dead-lettered after the limit, the others handled', async () => {
    const { url, c, w } = await start('batch-crash', '  ingest: { batch: { size: 20, window: 200ms }, redeliveryLimit: 2 }\n', 'batch-recorder');
    const bodies: unknown[] = range(30).map((id) => ({ id }));
    bodies.splice(10, 0, { id: 'poison', kill: 'exit' });
    await publishMany(url, 'ingest', bodies);
    const dead = await deadLetters(url, 'ingest.dead', 1);
    expect(dead.map((d) => d.body.id)).toEqual(['poison']);
    expect(dead[0]!.headers['x-warren-reason'] ?? 'delivery-limit').toBe('delivery-limit');
    await waitFor(() => c.idsOf('ingest').size === 30, 60_000, 100);
    expect([...c.idsOf('ingest')].sort()).toEqual(range(30).sort());
    expect(c.of('ingest').some((r) => r.id === 'poison')).toBe(false);
    expect(w.logs.filter((l) => String(l.msg).startsWith('replica died')).length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('a batch whose call times out on one hanging item: the other items are handled, only the hanging one is dead-lettered, with reason timeout, after its retries', async () => {
    const { url, c, w } = await start(
      'batch-timeout',
      '  ingest: { batch: { size: 10, window: 300ms }, timeout: 1s, retry: { attempts: 2, delay: 100ms } }\n',
      'batch-recorder',
    );
    const bodies: unknown[] = range(9).map((id) => ({ id }));
    bodies.splice(4, 0, { id: 'hang', hang: true });
    await publishMany(url, 'ingest', bodies);

    const dead = await deadLetters(url, 'ingest.dead', 1);
    await waitFor(() => c.idsOf('ingest').size === 9, 30_000, 50);
    // Nothing else follows the hanging item into the dead-letter queue.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await queueInfo(url, 'ingest.dead')).messageCount).toBe(0);
    expect(dead.map((d) => d.body.id)).toEqual(['hang']);
    expect(dead[0]!.headers).toMatchObject({
      'x-warren-function': 'ingest',
      'x-warren-reason': 'timeout',
      'x-warren-attempts': 2,
      'x-warren-error': expect.stringContaining('timed out after 1000 ms'),
    });
    // Each good item handled once, on its first attempt, in a call without the hanging item.
    const handled = recorded(c, 'ingest');
    expect(handled.map((r) => r.id).sort()).toEqual(range(9).sort());
    expect(handled.every((r) => r.attempt === 1)).toBe(true);
    expect(w.logs.some((l) => l.function === 'ingest' && /^batch of 10 timed out; each of its items runs again alone/.test(String(l.msg)))).toBe(true);
  }, 60_000);

  it('a batch handler returning { failed: null }: every item fails, retried then dead-lettered with an error that says what Warren expected, none acked as a success', async () => {
    vhost = await createTestVhost('batch-null');
    project = await createProject(`functions:\n  ingest: { batch: { size: 10, window: 200ms }, retry: { attempts: 2, delay: 100ms } }\n`, {
      ingest: 'export default async () => ({ failed: null });\n',
    });
    warren = await startWarren(project.dir, vhost.url);
    await publishMany(
      vhost.url,
      'ingest',
      range(3).map((id) => ({ id })),
    );

    const dead = await deadLetters(vhost.url, 'ingest.dead', 3);
    expect(dead.map((d) => d.body.id).sort()).toEqual(range(3));
    for (const { headers } of dead) {
      expect(headers).toMatchObject({ 'x-warren-function': 'ingest', 'x-warren-reason': 'error', 'x-warren-attempts': 2 });
      expect(String(headers['x-warren-error'])).toContain('the batch handler returned failed: null, not a list of indexes');
      expect(String(headers['x-warren-error'])).toContain('expected nothing or { failed?: number[], rejected?: number[] }');
    }
    const line = warren.logs.find((l) => l.function === 'ingest' && /^batch of \d+: \d+ failed/.test(String(l.msg)));
    expect(JSON.stringify(line?.err)).toContain('failed: null');
  }, 60_000);
});

async function getDead(url: string, count: number): Promise<Array<{ body: string; reason: unknown }>> {
  await waitFor(async () => (await queueInfo(url, 'ingest.dead')).messageCount >= count, 45_000, 100);
  return (await getAll(url, 'ingest.dead')).map((m) => ({ body: m.content.toString(), reason: m.properties.headers?.['x-warren-reason'] }));
}

describe('rateLimit', () => {
  it("runs SPEC's ingest shape, a batch larger than its rate: batches hold what the rate lets start, never more than the limit in any 1 s", async () => {
    const { url, c, w } = await start(
      'batch-rate',
      '  ingest: { batch: { size: 20, window: 200ms }, rateLimit: 10/s, retry: { attempts: 1 } }\n',
      'batch-recorder',
    );
    await publishMany(
      url,
      'ingest',
      range(40).map((id) => ({ id })),
    );
    await waitFor(() => c.of('ingest').length === 40, 20_000, 100);
    const records = recorded(c, 'ingest');
    expect(new Set(records.map((r) => r.id)).size).toBe(40);
    expect(Math.max(...records.map((r) => r.batch))).toBe(10);
    expect(mostInAnySecond(records.map((r) => r.at))).toBeLessThanOrEqual(10);
    expect(w.logs.some((l) => String(l.msg).startsWith('batch size capped at 10 by rateLimit 10/s'))).toBe(true);
  });

  it('never starts more than the limit in any 1 s window across two replicas', async () => {
    const { url, c, w } = await start('rate-limit', '  limited: { rateLimit: 20/s, replicas: 2, prefetch: 50 }\n', 'stamp');
    await publishMany(
      url,
      'limited',
      range(70).map((id) => ({ id })),
    );
    await waitFor(() => c.of('limited').length === 70, 20_000, 100);
    const starts = (c.of('limited') as unknown as Array<{ at: number }>).map((r) => r.at).sort((a, b) => a - b);
    const most = mostInAnySecond(starts);
    // The handler is called in the step that admits it (runtime/ratelimit/shared-rate.ts), so the
    // starts it stamps are the ones the limiter counted.
    expect(most).toBeLessThanOrEqual(20);
    // 70 at 20/s cannot be done in much under 3.5 s: the limit held the messages back
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThan(3_000);
    expect(w.logs.some((l) => String(l.msg).startsWith('prefetch capped at 20'))).toBe(true);
    // Handler latency counts from the turn: the seconds a message waited for it are not the handler's.
    const histogram = async () => {
      const { text } = await w.admin('GET', '/metrics');
      const read = (part: string) => Number(new RegExp(`warren_handler_duration_seconds_${part}\\{function="limited"\\} (\\S+)`).exec(text)?.[1]);
      return { sum: read('sum'), count: read('count') };
    };
    await waitFor(async () => (await histogram()).count === 70, 10_000, 100);
    const { sum, count } = await histogram();
    expect(sum / count).toBeLessThan(0.1);
  });
});
