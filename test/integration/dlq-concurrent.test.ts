/**
 * Dead-letter operations side by side. A read holds the letters it reads until it ends, so in one
 * process (the runtime behind the dashboard) each queue takes its reads, replays and purges one at a
 * time, and a replay by id looks again for a letter that a read in another process held.
 */
import amqplib from 'amqplib';
import { afterEach, expect, it } from 'vitest';
import { browseDeadLetters, purgeDeadLetters, replayDeadLetters } from '../../runtime/deadletters';
import { createTestVhost, type TestVhost } from '../helpers/broker';

let vhost: TestVhost | undefined;

afterEach(async () => {
  await vhost?.cleanup();
  vhost = undefined;
});

const COUNT = 400;

async function deadLetters(url: string): Promise<void> {
  const setup = await amqplib.connect(url);
  const ch = await setup.createConfirmChannel();
  await ch.assertQueue('jobs', { durable: true });
  await ch.assertQueue('jobs.dead', { durable: true });
  for (let i = 0; i < COUNT; i++)
    ch.sendToQueue('jobs.dead', Buffer.from(JSON.stringify({ i })), { persistent: true, messageId: `m-${i}`, headers: { 'x-warren-error': 'boom' } });
  await ch.waitForConfirms();
  await setup.close();
}

async function inQueue(url: string, queue: string): Promise<string[]> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    const ids: string[] = [];
    for (let msg = await ch.get(queue, { noAck: true }); msg; msg = await ch.get(queue, { noAck: true })) ids.push(String(msg.properties.messageId));
    await ch.close();
    return ids;
  } finally {
    await conn.close();
  }
}

it('two pages read at once both show every letter, and a replay by id beside them finds its letter', async () => {
  vhost = await createTestVhost('dlq-concurrent');
  await deadLetters(vhost.url);
  const [a, b, replayed, c] = await Promise.all([
    browseDeadLetters(vhost.url, 'jobs.dead', { limit: COUNT }),
    browseDeadLetters(vhost.url, 'jobs.dead', { limit: COUNT }),
    replayDeadLetters(vhost.url, 'jobs.dead', { keys: ['m-250'], body: Buffer.from('{"i":250,"fixed":true}') }),
    browseDeadLetters(vhost.url, 'jobs.dead', { limit: COUNT }),
  ]);
  expect(a.letters).toHaveLength(COUNT);
  expect(b.letters).toHaveLength(COUNT);
  expect(replayed).toMatchObject({ replayed: 1, replayedKeys: ['m-250'], missing: [] });
  expect(c.letters).toHaveLength(COUNT - 1);
  expect(await inQueue(vhost.url, 'jobs')).toEqual(['m-250']);
  expect(await purgeDeadLetters(vhost.url, 'jobs.dead')).toBe(COUNT - 1);
});

it('a replay by id finds a letter that a read in another process holds for a moment', async () => {
  vhost = await createTestVhost('dlq-concurrent');
  await deadLetters(vhost.url);
  // Another process's `warren dlq list`: every letter taken, unacked, handed back after 400 ms.
  const reader = await amqplib.connect(vhost.url);
  try {
    const ch = await reader.createChannel();
    for (let i = 0; i < COUNT; i++) expect(await ch.get('jobs.dead', { noAck: false })).not.toBe(false);
    const handBack = new Promise((resolve) => setTimeout(resolve, 400)).then(() => ch.close());
    const result = await replayDeadLetters(vhost.url, 'jobs.dead', { keys: ['m-7'] });
    await handBack;
    expect(result).toMatchObject({ replayed: 1, replayedKeys: ['m-7'], missing: [] });
  } finally {
    await reader.close();
  }
  expect(await inQueue(vhost.url, 'jobs')).toEqual(['m-7']);
  expect(await inQueue(vhost.url, 'jobs.dead')).toHaveLength(COUNT - 1);
});
