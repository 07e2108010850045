/**
 * Queue depths read from a real broker for /functions, /metrics and `warren status`: a depth the live
 * feed read in the background while messages were still queued is not what a request is answered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import pino from 'pino';
import { QueueDepths } from '../../runtime/admin/depths';
import { createTestVhost, getAll, publishRaw, type TestVhost } from '../helpers/broker';

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
});
