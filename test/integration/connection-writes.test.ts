/**
 * Every connection Warren opens sends the frames of one pass of amqplib's multiplexer in one write
 * (runtime/connection/connect.ts, coalesceWrites): 200 publishes made in one turn leave in a handful
 * of system calls instead of 200, and every one of them reaches the queue.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { connectToAny } from '../../runtime/connection/connect';
import { createTestVhost, type TestVhost } from '../helpers/broker';

let vhost: TestVhost | undefined;
const open: ChannelModel[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) await c.close().catch(() => undefined);
  await vhost?.cleanup();
  vhost = undefined;
});

const COUNT = 200;

/** Publishes COUNT messages in one turn on `model`; returns the socket writes they took, once all are confirmed. */
async function writesFor(model: ChannelModel, queue: string): Promise<number> {
  open.push(model);
  const channel = await model.createConfirmChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const socket = (model as unknown as { connection: { stream: { _writeGeneric: (...args: unknown[]) => unknown } } }).connection.stream;
  const writeGeneric = socket._writeGeneric;
  let writes = 0;
  socket._writeGeneric = function (this: unknown, ...args: unknown[]) {
    writes++;
    return writeGeneric.apply(this, args);
  };
  for (let i = 0; i < COUNT; i++) channel.sendToQueue(queue, Buffer.from(JSON.stringify({ i })), { persistent: true });
  await channel.waitForConfirms();
  socket._writeGeneric = writeGeneric;
  const { messageCount } = await channel.checkQueue(queue);
  expect(messageCount).toBe(COUNT);
  await channel.close();
  return writes;
}

describe('connections Warren opens', () => {
  it('send the frames of one pass in one write, and lose none of them', async () => {
    vhost = await createTestVhost('warren-writes');
    const plain = await writesFor(await amqplib.connect(vhost.url), 'plain');
    const warren = await writesFor((await connectToAny(vhost.url)).connection, 'warren');
    // A plain amqplib connection writes every publish on its own; Warren's a few passes' worth.
    expect(plain).toBeGreaterThanOrEqual(COUNT);
    expect(warren).toBeLessThanOrEqual(10);
  });
});
