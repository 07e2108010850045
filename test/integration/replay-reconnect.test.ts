/**
 * A replay whose connection is lost half way (its node died; here the broker closes it) goes on
 * through a new connection with what is left: every dead letter reaches the function's queue, none
 * stays behind, and the command says so, instead of ending on amqplib's "Channel ended".
 */
import amqplib from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { replayDeadLetters } from '../../runtime/deadletters';
import { createTestVhost, type TestVhost } from '../helpers/broker';

const run = promisify(execFile);
let vhost: TestVhost | undefined;

afterEach(async () => {
  await vhost?.cleanup();
  vhost = undefined;
});

const COUNT = 5_000;

it('goes on through a new connection when the broker closes its connection mid-replay: all 5,000 replayed, none left', async () => {
  vhost = await createTestVhost('replay-reconnect');
  const setup = await amqplib.connect(vhost.url);
  const ch = await setup.createConfirmChannel();
  await ch.assertQueue('jobs', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.assertQueue('jobs.dead', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  for (let i = 0; i < COUNT; i++)
    ch.sendToQueue('jobs.dead', Buffer.from(JSON.stringify({ i })), { persistent: true, messageId: `m-${i}`, headers: { 'x-warren-error': 'boom' } });
  await ch.waitForConfirms();
  await setup.close();

  const replaying = replayDeadLetters(vhost.url, 'jobs.dead');
  // rabbitmqctl takes a second or so to start: the replay is under way when it closes the connection.
  await run('rabbitmqctl', ['close_all_connections', '-p', vhost.name, 'closed by the test, as a node going down']);
  const result = await replaying;
  expect(result.reconnects).toBeGreaterThanOrEqual(1);
  // A dead letter whose ack was lost with the connection is replayed again: counted twice.
  expect(result.replayed).toBeGreaterThanOrEqual(COUNT);
  expect(result.remaining).toBe(0);

  const check = await amqplib.connect(vhost.url);
  try {
    const c = await check.createChannel();
    expect((await c.checkQueue('jobs.dead')).messageCount).toBe(0);
    const ids = new Set<string>();
    for (;;) {
      const msg = await c.get('jobs', { noAck: true });
      if (!msg) break;
      ids.add(String(msg.properties.messageId));
    }
    // Every dead letter arrived; one whose ack was lost with the connection may have arrived twice.
    expect(ids.size).toBe(COUNT);
    await c.close();
  } finally {
    await check.close();
  }
});
