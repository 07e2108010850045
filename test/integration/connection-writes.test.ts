/**
 * Every connection Warren opens sends the frames of one pass of amqplib's multiplexer in one write
 * (runtime/connection/connect.ts, coalesceWrites): 200 publishes made in one turn leave in a handful
 * of system calls instead of 200, and every one of them reaches the queue. And it reads what the
 * broker sends with Warren's frame reader (runtime/connection/frame-reader.ts), not amqplib's.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { connectToAny, writeQueuedFrames } from '../../runtime/connection/connect';
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

  it("read deliveries with Warren's frame reader, every message whole", async () => {
    vhost = await createTestVhost('warren-reads');
    const model = (await connectToAny(vhost.url)).connection;
    open.push(model);
    const inner = (model as unknown as { connection: { recvFrame: unknown; constructor: { prototype: { recvFrame: unknown } } } }).connection;
    expect(inner.recvFrame, "amqplib's own reader is still in place").not.toBe(inner.constructor.prototype.recvFrame);
    const publisher = await model.createConfirmChannel();
    await publisher.assertQueue('reads', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    // Bodies from empty to larger than a frame (frame-max is 128 KiB by default), with headers and names in UTF-8.
    const sizes = [0, 1, 100, 70_000, 300_000];
    const sent = Array.from({ length: COUNT }, (_, i) => ({ body: Buffer.alloc(sizes[i % sizes.length]!, i % 251), id: `m-${i}-✓` }));
    for (const m of sent) publisher.sendToQueue('reads', m.body, { persistent: true, messageId: m.id, headers: { 'x-n': sent.indexOf(m), 'x-name': 'é' } });
    await publisher.waitForConfirms();
    const consumer = await model.createChannel();
    await consumer.prefetch(50);
    const got: { id: string; n: unknown; name: unknown; body: Buffer; routingKey: string }[] = [];
    await new Promise<void>((resolve) => {
      void consumer.consume('reads', (msg) => {
        if (!msg) return;
        got.push({
          id: String(msg.properties.messageId),
          n: msg.properties.headers?.['x-n'],
          name: msg.properties.headers?.['x-name'],
          body: msg.content,
          routingKey: msg.fields.routingKey,
        });
        consumer.ack(msg);
        if (got.length === COUNT) resolve();
      });
    });
    expect(got.map((m) => m.id)).toEqual(sent.map((m) => m.id));
    got.forEach((m, i) => {
      expect(m.n).toBe(i);
      expect(m.name).toBe('é');
      expect(m.routingKey).toBe('reads');
      expect(m.body.equals(sent[i]!.body), `body of message ${i}`).toBe(true);
    });
    await consumer.close();
    await publisher.close();
  });

  it('put an ack on the socket in the very turn it is given, so a thread that never gets another pass does not take it back with it', async () => {
    vhost = await createTestVhost('warren-ack-now');
    const setup = await amqplib.connect(vhost.url);
    open.push(setup);
    const publisher = await setup.createConfirmChannel();
    await publisher.assertQueue('acked', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 10; i++) publisher.sendToQueue('acked', Buffer.from(String(i)), { persistent: true });
    await publisher.waitForConfirms();

    const model = (await connectToAny(vhost.url)).connection;
    const socket = (model as unknown as { connection: { stream: { destroy(): void } } }).connection.stream;
    const consumer = await model.createChannel();
    await consumer.prefetch(10);
    const held: amqplib.ConsumeMessage[] = [];
    await new Promise<void>((resolve) => {
      void consumer.consume('acked', (msg) => {
        if (msg && held.push(msg) === 10) resolve();
      });
    });
    // Acked, written, and the thread ends in this same turn (a handler's process.exit, a blocked
    // loop ended from outside): no pass of amqplib's own comes, the socket is gone.
    consumer.ack(held[9]!, true);
    writeQueuedFrames(model);
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const check = await setup.createChannel();
    expect((await check.checkQueue('acked')).messageCount).toBe(0);
  });
});
