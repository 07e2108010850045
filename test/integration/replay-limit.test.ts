/**
 * `dlq replay --limit N` replays the N oldest dead letters by their time of death, the ones
 * `dlq list` shows first, whatever order the queue holds them in (a quorum queue hands back what a
 * read held in an order of its own, so after a list or an `--id` replay the head is not the oldest).
 */
import amqplib from 'amqplib';
import { afterEach, expect, it } from 'vitest';
import { replayDeadLetters } from '../../runtime/deadletters';
import { createTestVhost, type TestVhost } from '../helpers/broker';

let vhost: TestVhost | undefined;

afterEach(async () => {
  await vhost?.cleanup();
  vhost = undefined;
});

it('replays the oldest N by their time of death, not the first N in the queue', async () => {
  vhost = await createTestVhost('replay-limit');
  const conn = await amqplib.connect(vhost.url);
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('jobs', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue('jobs.dead', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    // In the queue newest first: d9 at the head, d0 at the back.
    for (let i = 9; i >= 0; i--) {
      const at = new Date(Date.UTC(2026, 10, 29, 12, 0, i)).toISOString();
      ch.sendToQueue('jobs.dead', Buffer.from(JSON.stringify({ i })), {
        persistent: true,
        messageId: `d${i}`,
        headers: { 'x-warren-error': 'boom', 'x-warren-dead-lettered-at': at, 'x-warren-function': 'jobs' },
      });
    }
    await ch.waitForConfirms();
    const result = await replayDeadLetters(vhost.url, 'jobs.dead', { limit: 3 });
    expect(result).toMatchObject({ replayed: 3, remaining: 7 });
    expect([...result.replayedKeys].sort()).toEqual(['d0', 'd1', 'd2']);
    const ids: string[] = [];
    for (let msg = await ch.get('jobs', { noAck: true }); msg; msg = await ch.get('jobs', { noAck: true })) ids.push(String(msg.properties.messageId));
    expect(ids).toEqual(['d0', 'd1', 'd2']);
    expect((await ch.checkQueue('jobs.dead')).messageCount).toBe(7);
  } finally {
    await conn.close();
  }
});
