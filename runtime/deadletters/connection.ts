/**
 * The dead-letter tools work straight against the broker (amqplib, one short connection per call),
 * so the CLI needs no running runtime and the admin API calls the same functions. Every connection is
 * closed on every path.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { connectToAny } from '../connection/connect';
import { brokerUnreachable, vhostOfUrl } from '../connection/unreachable';
import { WarrenError, redactUrl } from '../errors';
import { closeWithin } from '../connection/close';

/** `orders.dead` → `orders`: the queue the dead letters came from, where a replay sends them. */
export { sourceQueueOf } from '../topology/names';

export async function withConnection<T>(url: string, name: string, work: (conn: ChannelModel) => Promise<T>): Promise<T> {
  let conn: ChannelModel;
  try {
    // A cluster's list: the first node that answers, so the tools work with a node down.
    conn = (await connectToAny(url, { timeout: 5_000, connectionName: name })).connection;
  } catch (err) {
    throw brokerUnreachable(url, vhostOfUrl(url), err);
  }
  conn.on('error', () => {
    // A connection error also rejects the pending operation, which reports it.
  });
  try {
    return await work(conn);
  } finally {
    await closeWithin(conn);
  }
}

/** Messages in the dead-letter queue; a queue that does not exist is a clear error. */
export async function messageCount(ch: Channel, queue: string, url: string): Promise<number> {
  ch.on('error', () => undefined);
  try {
    return (await ch.checkQueue(queue)).messageCount;
  } catch (err) {
    if (/NOT[-_]FOUND/.test(String(err))) {
      throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `the dead-letter queue "${queue}" does not exist on ${redactUrl(url)}`, {
        hint: 'run `warren start` once so the topology is declared, and check the function name and `deadLetter:` in queues.yaml',
      });
    }
    throw err;
  }
}

/** A passive check on a side channel (a failed check closes its channel, not the caller's). */
export async function queueExists(conn: ChannelModel, queue: string): Promise<boolean> {
  const side = await conn.createChannel();
  side.on('error', () => undefined);
  const found = await side.checkQueue(queue).then(
    () => true,
    () => false,
  );
  if (found) await side.close();
  return found;
}
