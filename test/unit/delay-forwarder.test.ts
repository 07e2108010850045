/**
 * The delay ladder's last step holds each message until it is due, by the clock, and never forwards it
 * sooner, even when timers fire before that clock reaches their end (Node counts a timer from the
 * event loop's cached time, so it can end a millisecond early). The channel here is a stand-in that
 * records when each publish happens; the broker side of the ladder is test/integration/delay.test.ts.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { DelayForwarder } from '../../runtime/delay/deliver';
import { DELAY_HEADERS } from '../../runtime/delay/ladder';

type Publish = (exchange: string, routingKey: string, body: Buffer, options: { headers: Record<string, unknown> }, cb: (err: Error | null) => void) => boolean;

/** A confirm channel stand-in: `deliver` hands the forwarder a message as the deliver queue would; acks are recorded. */
function standIn(publish: Publish): { connection: ChannelModel; deliver(message: ConsumeMessage): void; acked: ConsumeMessage[] } {
  let consumer: ((m: ConsumeMessage) => void) | null = null;
  const acked: ConsumeMessage[] = [];
  const channel = {
    on: () => channel,
    prefetch: async () => undefined,
    consume: async (_q: string, cb: (m: ConsumeMessage) => void) => {
      consumer = cb;
      return { consumerTag: 't' };
    },
    publish,
    ack: (m: ConsumeMessage) => void acked.push(m),
    nack: () => undefined,
  };
  return { connection: { createConfirmChannel: async () => channel } as unknown as ChannelModel, deliver: (m) => consumer!(m), acked };
}

/** A message off the deliver queue, due at `due` on exchange `events`. */
function dueAt(due: number): ConsumeMessage {
  return {
    content: Buffer.from('{}'),
    fields: { deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'warren.delay.deliver', consumerTag: 't' },
    properties: { headers: { [DELAY_HEADERS.exchange]: 'events', [DELAY_HEADERS.routingKey]: 'due', [DELAY_HEADERS.due]: due } },
  } as unknown as ConsumeMessage;
}

describe('DelayForwarder', () => {
  it('forwards a held message only once the clock has reached its due time, though timers end early', async () => {
    // A clock that runs slower than the timers: a timer set for `due - now()` ends while it still reads before `due`.
    const origin = Date.now();
    const now = () => origin + Math.floor((Date.now() - origin) * 0.8);
    const published: Array<{ at: number; due: number; exchange: string }> = [];
    const { connection, deliver, acked } = standIn((exchange, _rk, _body, options, cb) => {
      published.push({ at: now(), due: Number(options.headers[DELAY_HEADERS.due]), exchange });
      setImmediate(() => cb(null));
      return true;
    });
    const forwarder = new DelayForwarder({ log: pino({ level: 'silent' }), known: new Set(['events']), now });
    await forwarder.attach(connection);
    for (const inMs of [3, 10, 25, 40, 60]) deliver(dueAt(now() + inMs));
    const deadline = Date.now() + 10_000;
    while (acked.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(acked).toHaveLength(5);
    for (const p of published) {
      expect(p.exchange).toBe('events');
      expect(p.at).toBeGreaterThanOrEqual(p.due);
      // Held no longer than needed (the bound leaves room for a loaded machine).
      expect(p.at - p.due).toBeLessThan(1_000);
    }
  });

  it('leaves a message held when it stops with the broker, which has it back: no forward on a closing channel, no warning', async () => {
    let closed = false;
    const published: string[] = [];
    const { connection, deliver, acked } = standIn((exchange) => {
      // amqplib's answer on a closed channel
      if (closed) throw new Error('Channel closed');
      published.push(exchange);
      return true;
    });
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const forwarder = new DelayForwarder({ log, known: new Set(['events']) });
    await forwarder.attach(connection);
    deliver(dueAt(Date.now() + 50));
    // Stopping: detached, then the connection closes (the broker returns the unacked message to the deliver queue).
    forwarder.detach();
    closed = true;
    await new Promise((r) => setTimeout(r, 150));
    expect(published).toEqual([]);
    expect(acked).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
