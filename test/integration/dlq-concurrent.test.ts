/**
 * Dead-letter operations side by side. A read holds the letters it reads until it ends, so in one
 * process (the runtime behind the dashboard) each queue takes its reads, replays and purges one at a
 * time, and across processes they take turns through the broker (runtime/deadletters/turn.ts); a
 * replay by id also looks again for a letter that a read without a turn held.
 */
import amqplib from 'amqplib';
import { afterEach, expect, it } from 'vitest';
import { browseDeadLetters, purgeDeadLetters, replayDeadLetters } from '../../runtime/deadletters';
import { takeTurn } from '../../runtime/deadletters/turn';
import { WarrenError } from '../../runtime/errors';
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

/** Another process's `warren dlq list` of the whole queue: its turn taken, every letter held unacked until `handBack`. */
async function readElsewhere(url: string): Promise<{ handBack(): Promise<void> }> {
  const reader = await amqplib.connect(url);
  await takeTurn(reader, 'jobs.dead');
  const ch = await reader.createChannel();
  for (let i = 0; i < COUNT; i++) expect(await ch.get('jobs.dead', { noAck: false })).not.toBe(false);
  return { handBack: () => reader.close() };
}

it('a replay of every letter beside another process’s read waits for its turn and replays them all', async () => {
  vhost = await createTestVhost('dlq-turns');
  await deadLetters(vhost.url);
  const other = await readElsewhere(vhost.url);
  const replaying = replayDeadLetters(vhost.url, 'jobs.dead');
  await new Promise((resolve) => setTimeout(resolve, 500));
  await other.handBack();
  expect(await replaying).toMatchObject({ replayed: COUNT, kept: [], remaining: 0 });
  expect(await inQueue(vhost.url, 'jobs')).toHaveLength(COUNT);
  expect(await inQueue(vhost.url, 'jobs.dead')).toHaveLength(0);
});

it('a purge and a list beside another process’s read wait for its turn and see every letter', async () => {
  vhost = await createTestVhost('dlq-turns');
  await deadLetters(vhost.url);
  let other = await readElsewhere(vhost.url);
  const listing = browseDeadLetters(vhost.url, 'jobs.dead', { limit: COUNT });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await other.handBack();
  const page = await listing;
  expect([page.total, page.letters.length]).toEqual([COUNT, COUNT]);

  other = await readElsewhere(vhost.url);
  const purging = purgeDeadLetters(vhost.url, 'jobs.dead');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await other.handBack();
  expect(await purging).toBe(COUNT);
  expect(await inQueue(vhost.url, 'jobs.dead')).toHaveLength(0);
});

it('says which queue another process holds, and changes nothing, when its turn does not end', async () => {
  vhost = await createTestVhost('dlq-turns');
  await deadLetters(vhost.url);
  const other = await readElsewhere(vhost.url);
  const conn = await amqplib.connect(vhost.url);
  try {
    const err = await takeTurn(conn, 'jobs.dead', 300).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WarrenError);
    expect((err as WarrenError).code).toBe('WARREN_E_DEAD_LETTERS_BUSY');
    expect((err as WarrenError).message).toContain('jobs.dead');
  } finally {
    await conn.close();
    await other.handBack();
  }
  expect(await inQueue(vhost.url, 'jobs.dead')).toHaveLength(COUNT);
});
