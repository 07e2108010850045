/**
 * Declares the delay ladder (planned in runtime/topology/plan.ts, beside the retry ladder) with
 * amqplib on a few channels side by side, not through rascal: its 38 exchanges, queues and bindings
 * one at a time through rascal made a fresh start several times slower on a loaded broker. Idempotent;
 * a ladder that exists with other arguments (another Warren version) is refused with a hint.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { WarrenError } from '../errors';
import { planDelayLadder } from '../topology/plan';

const CHANNELS = 6;

export async function declareDelayLadder(conn: ChannelModel): Promise<void> {
  const { exchanges, queues, bindings } = planDelayLadder();
  const channels: Channel[] = await Promise.all(Array.from({ length: CHANNELS }, () => conn.createChannel()));
  for (const ch of channels) ch.on('error', () => undefined);
  const spread = <T>(items: readonly T[], step: (ch: Channel, item: T) => Promise<unknown>) =>
    Promise.all(items.map((item, i) => step(channels[i % CHANNELS]!, item)));
  try {
    await spread(exchanges, (ch, x) => ch.assertExchange(x.name, x.type, { durable: x.durable, autoDelete: x.autoDelete, arguments: x.arguments }));
    await spread(queues, (ch, q) => ch.assertQueue(q.name, { durable: q.durable, arguments: q.arguments }));
    await spread(bindings, (ch, b) =>
      b.toExchange ? ch.bindExchange(b.queue, b.exchange, b.routingKey, b.arguments) : ch.bindQueue(b.queue, b.exchange, b.routingKey, b.arguments),
    );
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/PRECONDITION_FAILED/.test(message)) {
      throw new WarrenError('WARREN_E_TOPOLOGY_MISMATCH', `the delay ladder (warren.delay.*) exists on the broker with other settings: ${message}`, {
        hint: 'another Warren version declared it; once warren.delay.* queues are empty, delete them and start again',
      });
    }
    throw err;
  } finally {
    await Promise.all(channels.map((ch) => ch.close().catch(() => undefined)));
  }
}
