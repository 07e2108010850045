/**
 * `warren publish` on a node that takes messages and never confirms them (runtime/cli/publish.ts,
 * publishOn): after the confirm timeout it gives the node up as lost, with every unconfirmed copy
 * kept to be sent again through another node; a node that says it blocks publishers is waited for.
 * The connection is a stand-in: no broker can be made to withhold confirms on demand.
 */
import { EventEmitter } from 'node:events';
import type { ChannelModel } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { publishOn, type Run } from '../../runtime/cli/publish';

/** A connection whose confirm channel takes every publish and never confirms one. */
function silentConnection() {
  const published: string[] = [];
  const channel = Object.assign(new EventEmitter(), {
    publish: (_exchange: string, _key: string, _body: Buffer, options: { messageId: string }) => void published.push(options.messageId),
    close: async () => undefined,
  });
  const connection = Object.assign(new EventEmitter(), {
    createConfirmChannel: async () => channel,
    close: async () => undefined,
  });
  return { connection, published };
}

const run = (): Run => ({ next: 0, retry: [], refused: [], unroutable: 0, messageId: (copy) => `m-${copy}` });
const target = { exchange: '', routingKey: 'q' };
const properties = { headers: {}, contentType: 'application/json' };

describe('publishOn without confirms', () => {
  it('gives the node up after the confirm timeout, keeping every copy to send again', async () => {
    const { connection, published } = silentConnection();
    const r = run();
    const began = Date.now();
    const lost = await publishOn(connection as unknown as ChannelModel, r, target, Buffer.from('{}'), properties, 5, undefined, 300);
    expect(lost?.message).toBe('no confirm from the broker for 0.3 s');
    expect(Date.now() - began).toBeGreaterThanOrEqual(300);
    expect(published).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4']);
    expect(r.retry).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives up a node that never opens the channel, or never answers the closes once every copy is confirmed', async () => {
    const never = new Promise<never>(() => undefined);
    const mute = Object.assign(new EventEmitter(), { createConfirmChannel: () => never, close: () => never });
    const r = run();
    const lost = await publishOn(mute as unknown as ChannelModel, r, target, Buffer.from('{}'), properties, 3, undefined, 300);
    expect(lost?.message).toBe('no channel from the broker within 0.3 s');
    expect(r.next).toBe(0);

    // Confirms every publish at once, then answers neither close.
    const channel = Object.assign(new EventEmitter(), {
      publish: (_e: string, _k: string, _b: Buffer, _o: unknown, confirmed: (err: unknown) => void) => void setImmediate(() => confirmed(null)),
      close: () => never,
    });
    const slow = Object.assign(new EventEmitter(), { createConfirmChannel: async () => channel, close: () => never });
    const done = run();
    expect(await publishOn(slow as unknown as ChannelModel, done, target, Buffer.from('{}'), properties, 3, undefined, 300)).toBeNull();
    expect(done.next).toBe(3);
  });

  it('waits for a broker that blocks publishers, and times out only after it unblocks', async () => {
    const { connection } = silentConnection();
    const r = run();
    const began = Date.now();
    const pending = publishOn(connection as unknown as ChannelModel, r, target, Buffer.from('{}'), properties, 2, undefined, 300);
    connection.emit('blocked', 'low on memory');
    setTimeout(() => connection.emit('unblocked'), 800);
    const lost = await pending;
    expect(lost?.message).toBe('no confirm from the broker for 0.3 s');
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_100);
    expect(r.retry).toEqual([0, 1]);
  });
});
