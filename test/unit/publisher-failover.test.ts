/**
 * A replica's publisher across a node loss, with a stand-in channel (the broker itself is exercised in
 * test/integration/cluster.test.ts): a publish whose confirm never came is sent again on the next
 * connection and settles with that confirm; a nack still fails.
 */
import type { ChannelModel } from 'amqplib';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Publisher } from '../../runtime/replica/publisher';
import { toExchange, toQueue } from '../../runtime/replica/publish-target';

type Confirm = (err: Error | null) => void;

class FakeChannel {
  readonly sent: Array<{ routingKey: string; body: string; confirm: Confirm }> = [];
  private readonly listeners = new Map<string, Array<(...args: unknown[]) => void>>();
  closed = false;
  on(event: string, fn: (...args: unknown[]) => void): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return this;
  }
  publish(_exchange: string, routingKey: string, body: Buffer, _options: unknown, confirm: Confirm): boolean {
    if (this.closed) throw new Error('Channel closed');
    this.sent.push({ routingKey, body: body.toString(), confirm });
    return true;
  }
  /** the broker closes the channel with an error: 'error', then what lose() does */
  fail(message: string): void {
    for (const fn of this.listeners.get('error') ?? []) fn(new Error(message));
    this.lose();
  }
  /** what amqplib does when the connection goes: every unconfirmed publish gets 'channel closed', then 'close' */
  lose(): void {
    this.closed = true;
    for (const s of this.sent.splice(0)) s.confirm(new Error('channel closed'));
    for (const fn of this.listeners.get('close') ?? []) fn();
  }
}

function fakeConnection(): { connection: ChannelModel; channels: FakeChannel[] } {
  const channels: FakeChannel[] = [];
  const connection = {
    createConfirmChannel: async () => {
      const ch = new FakeChannel();
      channels.push(ch);
      return ch;
    },
  } as unknown as ChannelModel;
  return { connection, channels };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Publisher across a node loss', () => {
  it('sends an unconfirmed message again on the next connection and resolves with that confirm', async () => {
    const publisher = new Publisher(new Set(['out']), pino({ level: 'silent' }));
    const first = fakeConnection();
    publisher.use(first.connection);
    let settled: string | null = null;
    const publishing = publisher.publish(toQueue('results'), { id: 1 }, undefined, {}).then(
      () => (settled = 'confirmed'),
      (err: Error) => (settled = err.message),
    );
    await tick();
    expect(first.channels[0]!.sent.map((s) => s.routingKey)).toEqual(['results']);

    // The node goes away before the confirm: not a failure, the message waits.
    first.channels[0]!.lose();
    publisher.use(null);
    await tick();
    expect(settled).toBeNull();
    expect(publisher.unsent).toBe(1);

    // A publish made while down waits too.
    const later = publisher.publish(toExchange('out'), 'two', 'key', {});

    const second = fakeConnection();
    publisher.use(second.connection);
    await tick();
    const resent = second.channels[0]!.sent;
    expect(resent.map((s) => [s.routingKey, s.body])).toEqual([
      ['results', '{"id":1}'],
      ['key', 'two'],
    ]);
    expect(settled).toBeNull(); // no confirm yet: the input must not be acked
    for (const s of resent) s.confirm(null);
    await publishing;
    await later;
    expect(settled).toBe('confirmed');
    expect(publisher.unsent).toBe(0);
  });

  it('still fails a message the broker refused (nack)', async () => {
    const publisher = new Publisher(new Set(), pino({ level: 'silent' }));
    const { connection, channels } = fakeConnection();
    publisher.use(connection);
    const publishing = publisher.publish(toQueue('results'), 'x', undefined, {});
    await tick();
    channels[0]!.sent[0]!.confirm(new Error('message nacked'));
    await expect(publishing).rejects.toThrow('the broker refused the message for results');
  });

  it('refuses a publish to an internal exchange, delayed or not, without sending it (the broker would close the channel)', async () => {
    const publisher = new Publisher(new Set(['hub', 'out']), pino({ level: 'silent' }), new Set(['hub']));
    const { connection, channels } = fakeConnection();
    publisher.use(connection);
    await expect(publisher.publish(toExchange('hub'), 'x', 'k', {})).rejects.toThrow('exchange "hub" is internal');
    await expect(publisher.publish(toExchange('warren.delay.entry'), 'x', 'k', {}, 'hub')).rejects.toThrow('exchange "hub" is internal');
    void publisher.publish(toExchange('out'), 'x', 'k', {}).catch(() => undefined); // its confirm never comes here
    await tick();
    expect(channels.flatMap((c) => c.sent.map((m) => m.routingKey))).toEqual(['k']);
  });

  it('fails a message over the broker’s max_message_size with that cause, not sent again, and a later one over it before it is sent', async () => {
    const publisher = new Publisher(new Set(['out']), pino({ level: 'silent' }));
    const { connection, channels } = fakeConnection();
    publisher.use(connection);
    const big = 'y'.repeat(2_000);
    const publishing = publisher.publish(toExchange('out'), big, 'k', {});
    await tick();
    channels[0]!.fail(
      'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size 2000 is larger than configured max size 1000"',
    );
    await expect(publishing).rejects.toThrow('the broker refused the message for out: 2000 bytes, over its max_message_size of 1000 bytes');
    await tick();
    expect(channels.flatMap((c) => c.sent)).toHaveLength(0);
    // A small one goes out on a new channel; a large one is refused without being sent.
    const small = publisher.publish(toExchange('out'), 'x', 'k', {});
    await expect(publisher.publish(toExchange('out'), big, 'k', {})).rejects.toThrow('max_message_size of 1000 bytes');
    await tick();
    expect(channels.flatMap((c) => c.sent.map((m) => m.body))).toEqual(['x']);
    channels.at(-1)!.sent[0]!.confirm(null);
    await small;
  });
});
