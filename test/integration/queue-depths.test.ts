/**
 * Queue depths read from a real broker for /functions, /metrics and `warren status`: a depth the live
 * feed read in the background while messages were still queued is not what a request is answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { QueueDepths } from '../../runtime/admin/depths';
import { createTestVhost, getAll, publishRaw, type TestVhost } from '../helpers/broker';

const run = promisify(execFile);

/** Channels open on a vhost now (rabbitmqctl: the HTTP API's lists lag). */
async function channelsOn(vhost: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_channels', '-q', '--no-table-headers', 'vhost']);
  return stdout.split('\n').filter((line) => line.trim() === vhost).length;
}

let vhost: TestVhost | null = null;
let depths: QueueDepths | null = null;

afterEach(async () => {
  await depths?.close();
  depths = null;
  await vhost?.cleanup();
  vhost = null;
});

describe('queue depths', () => {
  it('answers a request with the broker’s depth now, not one the feed read in the background a moment before', async () => {
    vhost = await createTestVhost('depths');
    const url = vhost.url;
    const conn = await amqplib.connect(url);
    await (await conn.createChannel()).assertQueue('work', { durable: true });
    await conn.close();
    for (let i = 0; i < 3; i++) await publishRaw(url, '', 'work', `m${i}`);

    depths = new QueueDepths({ url: () => url, log: pino({ level: 'silent' }) });
    // The feed with no page open: 3 queued, and that answer may serve the feed for 5 s.
    expect((await depths.get('work', { maxAgeMs: 5_000, background: true }))?.messages).toBe(3);

    expect(await getAll(url, 'work')).toHaveLength(3);
    // A request right after: the broker is asked again.
    expect(await depths.get('work')).toEqual({ messages: 0, consumers: 0 });
    // And the feed may use what the request read.
    expect((await depths.get('work', { maxAgeMs: 5_000, background: true }))?.messages).toBe(0);
    expect(await depths.get('missing')).toBeNull();
  });

  it('keeps its channels open between checks, a missing queue among checks made together null and the others their depth', async () => {
    vhost = await createTestVhost('depths-shared');
    const url = vhost.url;
    const conn = await amqplib.connect(url);
    const ch = await conn.createChannel();
    for (const q of ['a', 'b', 'c']) await ch.assertQueue(q, { durable: true });
    await conn.close();
    await publishRaw(url, '', 'a', 'x');
    for (let i = 0; i < 2; i++) await publishRaw(url, '', 'b', 'x');

    depths = new QueueDepths({ url: () => url, log: pino({ level: 'silent' }), ttlMs: 0 });
    for (let round = 0; round < 3; round++) {
      // The 404 on "gone" closes its channel; the others are answered on theirs.
      const [a, gone, b, c] = await Promise.all(['a', 'gone', 'b', 'c'].map((q) => depths!.get(q)));
      expect([a?.messages, gone, b?.messages, c?.messages]).toEqual([1, null, 2, 0]);
    }
    for (let i = 0; i < 10; i++) expect((await depths.get('b'))?.messages).toBe(2);
    // Some thirty checks later, the channels of the three queues that exist stay open for the next.
    expect(await channelsOn(vhost.name)).toBe(3);
    await depths.close();
    depths = null;
    expect(await channelsOn(vhost.name)).toBe(0);
  });
});
