/**
 * Hostile messages against a running function: Warren's own headers forged or malformed, the
 * broker's headers faked, bodies that are not JSON, not UTF-8, empty or too large, thousands of
 * headers. Every one is settled (handled, or dead-lettered with a reason a person can read), nothing
 * is lost, no replica dies, and good messages published afterwards are all handled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetMessage, Options } from 'amqplib';
import { createTestVhost, getAll, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';

const queuesYaml = `
queues:
  results: { type: classic }
functions:
  sink:
    replicas: 2
    prefetch: 5
    maxBodySize: 1KiB
    retry: { attempts: 2, delay: 100ms }
`;

// Records what it saw; `{"fail": true}` throws, so the retry and dead-letter paths carry the hostile headers too.
const sink = `
import type { Handler } from 'warren';
const handler: Handler = async (message, ctx) => {
  await ctx.publish('', 'results', { id: ctx.messageId, attempt: ctx.attempt, type: Buffer.isBuffer(message) ? 'buffer' : typeof message, message: Buffer.isBuffer(message) ? null : message });
  const ask = (message ?? {}) as { fail?: boolean; long?: boolean };
  if (ask.fail) throw new Error('asked to fail' + (ask.long ? ' '.repeat(5_000) : ''));
};
export default handler;
`;

interface Seen {
  id: string;
  attempt: number;
  type: string;
  message: unknown;
}

const json = { contentType: 'application/json' };
const many = (n: number, size: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${i}`, 'v'.repeat(size)]));

/** id → what is published, and what a user must see: handled (with the attempt ctx reports) or dead with a reason. */
const hostile: Array<{ id: string; body: string | Buffer; props?: Options.Publish; expect: { handled: number } | { dead: string; error?: RegExp } }> = [
  { id: 'attempt-text', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-attempt': 'three' } }, expect: { handled: 1 } },
  { id: 'attempt-digits', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-attempt': '3' } }, expect: { handled: 1 } },
  { id: 'attempt-negative', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-attempt': -7 } }, expect: { handled: 1 } },
  { id: 'attempt-fraction', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-attempt': 0.25 } }, expect: { handled: 1 } },
  { id: 'attempt-huge', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-attempt': 1e308 } }, expect: { handled: 10_000 } },
  { id: 'attempt-table', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-attempt': { nested: { attempt: 2 } } } }, expect: { handled: 1 } },
  {
    id: 'attempt-huge-fails',
    body: '{"fail":true}',
    props: { ...json, headers: { 'x-warren-attempt': 1e308 } },
    expect: { dead: 'error', error: /asked to fail/ },
  },
  { id: 'death-garbage', body: '{"ok":1}', props: { ...json, headers: { 'x-death': 'garbage', 'x-first-death-queue': { a: 1 } } }, expect: { handled: 1 } },
  {
    id: 'death-entries',
    body: '{"fail":true}',
    props: { ...json, headers: { 'x-death': [{ count: 'x', time: 1e20, 'routing-keys': 'k' }, 7] } },
    expect: { dead: 'error' },
  },
  { id: 'delivery-count-text', body: '{"ok":1}', props: { ...json, headers: { 'x-delivery-count': 'lots' } }, expect: { handled: 1 } },
  // A count the broker did not write (a producer's, or a shovel's copy from another quorum queue) is not
  // believed on a first delivery: the message runs, as attempt 1.
  { id: 'delivery-count-copied', body: '{"ok":1}', props: { ...json, headers: { 'x-delivery-count': 50 } }, expect: { handled: 1 } },
  {
    id: 'route-forged',
    body: '{"fail":true}',
    props: { ...json, headers: { 'x-warren-original-exchange': 'x'.repeat(300), 'x-warren-original-routing-key': { k: 1 } } },
    expect: { dead: 'error' },
  },
  { id: 'redeliveries-forged', body: '{"ok":1}', props: { ...json, headers: { 'x-warren-redeliveries': 1e9 } }, expect: { dead: 'delivery-limit' } },
  { id: 'invalid-json', body: '{"a":', props: json, expect: { dead: 'invalid-json', error: /not valid JSON/ } },
  { id: 'not-utf8-json', body: Buffer.from('{"name":"caf\xe9"}', 'latin1'), props: json, expect: { dead: 'invalid-json', error: /not valid UTF-8/ } },
  { id: 'empty-json', body: '', props: json, expect: { dead: 'invalid-json', error: /empty/ } },
  { id: 'empty-untyped', body: '', expect: { handled: 1 } },
  { id: 'binary-untyped', body: Buffer.from([0xff, 0x00, 0xfe]), expect: { handled: 1 } },
  { id: 'too-large', body: JSON.stringify({ pad: 'x'.repeat(2_000) }), props: json, expect: { dead: 'too-large', error: /maxBodySize/ } },
  { id: 'headers-thousands', body: '{"ok":1}', props: { ...json, headers: many(3_000, 1) }, expect: { handled: 1 } },
  // near amqplib's 64 KiB header table: the dead letter cannot carry them all plus Warren's error and stack
  { id: 'headers-huge-fails', body: '{"fail":true,"long":true}', props: { ...json, headers: many(1_800, 24) }, expect: { dead: 'error' } },
];

describe('hostile messages', () => {
  let vhost: TestVhost;
  let project: Project;
  let warren: RunningWarren;
  const seen: Seen[] = [];
  const dead: GetMessage[] = [];

  const collect = async () => {
    for (const m of await getAll(vhost.url, 'results')) seen.push(JSON.parse(m.content.toString()) as Seen);
    dead.push(...(await getAll(vhost.url, 'sink.dead')));
  };
  const deadIds = () => dead.map((m) => m.properties.messageId as string);

  beforeAll(async () => {
    vhost = await createTestVhost('hostile');
    project = await createProject(queuesYaml, { sink });
    warren = await startWarren(project.dir, vhost.url);
  });

  afterAll(async () => {
    const code = await warren?.stop();
    await project?.remove();
    await vhost?.cleanup();
    expect(code).toBe(0);
  });

  it('settles every hostile message: handled, or dead-lettered with a reason; none lost, no replica died', async () => {
    for (const m of hostile) await publishRaw(vhost.url, '', 'sink', m.body, { ...m.props, messageId: m.id });
    const deadExpected = hostile.filter((m) => 'dead' in m.expect).map((m) => m.id);
    const handledExpected = hostile.filter((m) => 'handled' in m.expect).map((m) => m.id);
    await waitFor(
      async () => {
        await collect();
        const handled = new Set(seen.map((s) => s.id));
        return deadExpected.every((id) => deadIds().includes(id)) && handledExpected.every((id) => handled.has(id));
      },
      20_000,
      200,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; dead: ${deadIds().join(',')}; handled: ${[...new Set(seen.map((s) => s.id))].join(',')}`);
    });

    for (const m of hostile) {
      if ('handled' in m.expect) {
        const runs = seen.filter((s) => s.id === m.id);
        expect(
          runs.map((r) => r.attempt),
          m.id,
        ).toEqual([m.expect.handled]);
        expect(deadIds(), m.id).not.toContain(m.id);
      } else {
        const letter = dead.find((d) => d.properties.messageId === m.id)!;
        const headers = letter.properties.headers as Record<string, unknown>;
        expect(headers['x-warren-reason'], m.id).toBe(m.expect.dead);
        if (m.expect.error) expect(String(headers['x-warren-error']), m.id).toMatch(m.expect.error);
        expect(Number.isInteger(headers['x-warren-attempts']), m.id).toBe(true);
        // the body is kept byte for byte
        expect(letter.content.equals(Buffer.from(m.body as string | Buffer)), m.id).toBe(true);
      }
    }
    // the untyped non-UTF-8 body reached the handler as bytes, the empty one as ''
    expect(seen.find((s) => s.id === 'binary-untyped')?.type).toBe('buffer');
    expect(seen.find((s) => s.id === 'empty-untyped')).toMatchObject({ type: 'string', message: '' });
    // a forged route is not believed: the dead letter names the route it really came by
    const forged = dead.find((d) => d.properties.messageId === 'route-forged')!.properties.headers as Record<string, unknown>;
    expect(forged['x-warren-original-routing-key']).toBe('sink');
    // the oversized header set was trimmed, and the dead letter says so
    const huge = dead.find((d) => d.properties.messageId === 'headers-huge-fails')!.properties.headers as Record<string, unknown>;
    expect(Number(huge['x-warren-dropped-headers'])).toBeGreaterThan(0);

    // one log line per dead letter, with its reason
    for (const id of deadExpected) {
      expect(
        warren.logs.some((l) => l.messageId === id && typeof l.reason === 'string' && /dead-lettered/.test(l.msg)),
        id,
      ).toBe(true);
    }
    // nothing left behind, no replica lost
    expect((await queueInfo(vhost.url, 'sink')).messageCount).toBe(0);
    expect(warren.logs.filter((l) => l.level >= 50 && /replica/.test(l.msg) && /died|ended|exit/.test(l.msg))).toEqual([]);
    expect((await queueInfo(vhost.url, 'sink')).consumerCount).toBe(2);
  });

  it("drops a producer's per-message TTL from the copies it makes, so a dead letter does not expire out of the dead-letter queue", async () => {
    // dead-lettered on its first delivery (a retry queue's own dead-lettering would drop the TTL first)
    await publishRaw(vhost.url, '', 'sink', '{"a":', { ...json, messageId: 'own-ttl', expiration: '1500' });
    await waitFor(async () => warren.logs.some((l) => l.messageId === 'own-ttl' && /dead-lettered/.test(l.msg)), 10_000, 50);
    // past the producer's 1.5 s: RabbitMQ drops the TTL when it dead-letters a message, and so does Warren
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await collect();
    const letter = dead.find((d) => d.properties.messageId === 'own-ttl');
    expect(letter?.properties.headers?.['x-warren-reason']).toBe('invalid-json');
    expect(letter?.properties.expiration).toBeUndefined();
  });

  it('still handles good messages after the hostile batch', async () => {
    for (let i = 0; i < 30; i++) await publishRaw(vhost.url, '', 'sink', JSON.stringify({ n: i }), { ...json, messageId: `good-${i}` });
    await waitFor(
      async () => {
        await collect();
        return seen.filter((s) => s.id.startsWith('good-')).length >= 30;
      },
      15_000,
      100,
    );
    const good = seen.filter((s) => s.id.startsWith('good-'));
    expect(new Set(good.map((s) => s.id)).size).toBe(30);
    expect(good.every((s) => s.attempt === 1)).toBe(true);
    expect(deadIds().filter((id) => id.startsWith('good-'))).toEqual([]);
  });
});
