/**
 * A dead-letter queue on the broker: list (without removing), replay to the original route, purge.
 * Works straight against the broker (amqplib, one short connection per call), so the CLI needs no
 * running runtime and the admin API can call the same functions. Every connection is closed on every path.
 *
 * The rule that must never break: a dead letter leaves its queue only after the broker confirmed
 * the replayed copy (ack after confirm), so a crash at any point loses nothing (it may at worst
 * replay one message twice, the at-least-once promise).
 */
import type { Channel, ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import { connectToAny } from '../connection/connect';
import { WarrenError, redactUrl } from '../errors';
import { sourceQueueOf } from '../topology/names';
import { describeDeadLetter, originalRouteOf, replayProperties, type DeadLetter } from './describe';

export const DEFAULT_LIST_LIMIT = 20;

export interface DeadLetterList {
  queue: string;
  /** messages in the queue when it was read */
  total: number;
  letters: DeadLetter[];
}

export interface KeptLetter {
  messageId: string | null;
  why: string;
}

export interface ReplayResult {
  queue: string;
  replayed: number;
  /** taken, not replayed, and back in the dead-letter queue */
  kept: KeptLetter[];
  /** messages left in the dead-letter queue afterwards */
  remaining: number;
}

/** `orders.dead` → `orders`: the queue whose x-death entry tells where a broker dead letter came from. */
export { sourceQueueOf };

/**
 * Reads up to `limit` dead letters, oldest first, without removing any: each is taken with
 * basic.get and left unacked, then closing the channel hands them all back at once. (A nack with
 * requeue after each get would put the message back at the head, and the next get would return
 * it again; holding them unacked until the end walks the queue, and a crash hands them back too.)
 */
export async function listDeadLetters(url: string, queue: string, limit = DEFAULT_LIST_LIMIT): Promise<DeadLetterList> {
  return withConnection(url, 'warren dlq list', async (conn) => {
    const ch = await conn.createChannel();
    const total = await messageCount(ch, queue, url);
    const letters: DeadLetter[] = [];
    const source = sourceQueueOf(queue);
    while (letters.length < Math.min(limit, total)) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      letters.push(describeDeadLetter(msg, source));
    }
    await ch.close();
    return { queue, total, letters };
  });
}

/**
 * Republishes up to `limit` dead letters (default: those in the queue when it starts, so a message
 * that dies again during the replay is not replayed twice in one run) to their original exchange and
 * routing key on a confirm channel, and acks each only after its confirm. A message with no known
 * route, a gone exchange, or no queue bound to its route (published mandatory, so the broker returns
 * it rather than dropping it) stays in the dead-letter queue and is reported.
 */
export async function replayDeadLetters(url: string, queue: string, limit?: number): Promise<ReplayResult> {
  return withConnection(url, 'warren dlq replay', async (conn) => {
    const ch = await conn.createConfirmChannel();
    const total = await messageCount(ch, queue, url);
    const max = Math.min(limit ?? total, total);
    const source = sourceQueueOf(queue);
    const exchanges = exchangeChecker(conn);
    let returned = false;
    ch.on('return', () => {
      returned = true;
    });

    const kept: KeptLetter[] = [];
    let replayed = 0;
    for (let taken = 0; taken < max; taken++) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      const messageId = typeof msg.properties.messageId === 'string' ? msg.properties.messageId : null;
      const route = originalRouteOf(msg.properties.headers, source);
      if (!route) {
        kept.push({ messageId, why: 'no original exchange and routing key in its headers' });
        continue;
      }
      if (!(await exchanges.exists(route.exchange))) {
        kept.push({ messageId, why: `its original exchange "${route.exchange}" does not exist` });
        continue;
      }
      returned = false;
      const nacked = await publishConfirmed(ch, route.exchange, route.routingKey, msg);
      if (nacked || returned) {
        kept.push({ messageId, why: nacked ?? `no queue is bound to exchange "${route.exchange}" with routing key "${route.routingKey}"` });
        continue;
      }
      ch.ack(msg);
      replayed++;
    }
    // Kept messages were never acked: closing hands them back to the dead-letter queue.
    await ch.close();
    const after = await conn.createChannel();
    // A quorum queue takes the returned messages back asynchronously: its count can lag behind.
    const remaining = Math.max(await messageCount(after, queue, url), total - replayed);
    await after.close();
    return { queue, replayed, kept, remaining };
  });
}

/** Empties a dead-letter queue; returns how many messages it removed. */
export async function purgeDeadLetters(url: string, queue: string): Promise<number> {
  return withConnection(url, 'warren dlq purge', async (conn) => {
    const ch = await conn.createChannel();
    await messageCount(ch, queue, url);
    const { messageCount: purged } = await ch.purgeQueue(queue);
    await ch.close();
    return purged;
  });
}

/** Resolves with undefined once confirmed, or with why the broker refused it. */
function publishConfirmed(ch: ConfirmChannel, exchange: string, routingKey: string, msg: GetMessage): Promise<string | undefined> {
  const options = { ...replayProperties(msg.properties as unknown as Record<string, unknown>), mandatory: true };
  return new Promise((resolve) => {
    ch.publish(exchange, routingKey, msg.content, options, (err) => resolve(err ? `the broker refused the copy: ${String(err)}` : undefined));
  });
}

/** Passive exchange checks on a side channel (a failed check closes its channel, not the replay's). */
function exchangeChecker(conn: ChannelModel): { exists(name: string): Promise<boolean> } {
  const known = new Map<string, boolean>([['', true]]);
  return {
    async exists(name) {
      const cached = known.get(name);
      if (cached !== undefined) return cached;
      const side = await conn.createChannel();
      side.on('error', () => undefined);
      const found = await side.checkExchange(name).then(
        () => true,
        () => false,
      );
      if (found) await side.close();
      known.set(name, found);
      return found;
    },
  };
}

async function messageCount(ch: Channel, queue: string, url: string): Promise<number> {
  ch.on('error', () => undefined);
  try {
    return (await ch.checkQueue(queue)).messageCount;
  } catch (err) {
    if (/404|NOT_FOUND/.test(String(err))) {
      throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `the dead-letter queue "${queue}" does not exist on ${redactUrl(url)}`, {
        hint: 'run `warren start` once so the topology is declared, and check the function name and `deadLetter:` in queues.yaml',
      });
    }
    throw err;
  }
}

async function withConnection<T>(url: string, name: string, work: (conn: ChannelModel) => Promise<T>): Promise<T> {
  let conn: ChannelModel;
  try {
    // A cluster's list: the first node that answers, so the tools work with a node down.
    conn = (await connectToAny(url, { timeout: 5_000, connectionName: name })).connection;
  } catch (err) {
    throw new WarrenError('WARREN_E_BROKER_UNREACHABLE', `no broker answers at ${redactUrl(url)} (${(err as Error).message})`, {
      hint: 'start RabbitMQ, or point AMQP_URL (or rascal.json) at a running broker',
      cause: err,
    });
  }
  conn.on('error', () => {
    // A connection error also rejects the pending operation, which reports it.
  });
  try {
    return await work(conn);
  } finally {
    await conn.close().catch(() => undefined);
  }
}
