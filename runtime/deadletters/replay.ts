/**
 * Replay: a dead letter goes back to the queue of the function that dead-lettered it, through the
 * default exchange (routing key = that queue), never through its original exchange, where other
 * functions bound to the same route would get it a second time. Its original exchange and routing
 * key travel in Warren's route headers, so the handler still sees them in `ctx`.
 *
 * The rule that must never break: a dead letter leaves its queue only after the broker confirmed
 * the replayed copy (ack after confirm), so a crash at any point loses nothing (it may at worst
 * replay one message twice, the at-least-once promise). A copy the broker returns (published
 * `mandatory`: the queue is gone) or refuses leaves the dead letter where it was, with the reason.
 */
import type { ConfirmChannel, GetMessage } from 'amqplib';
import { messageCount, queueExists, sourceQueueOf, withConnection } from './connection';
import { keyOf, originalRouteOf, replayProperties } from './describe';
import type { KeptLetter, ReplayResult } from '../admin/wire-types';

export type { KeptLetter, ReplayResult } from '../admin/wire-types';

export interface ReplayOptions {
  /** the function's queue; default: the dead-letter queue's name without `.dead` */
  queue?: string;
  /** at most this many (default: those in the queue when the replay starts, so one that dies again is not replayed twice in one run) */
  limit?: number;
  /** only the dead letters with these keys (message ids) */
  keys?: readonly string[];
  /** publish this body instead of the dead letter's (one key only: the dashboard's "edit and replay") */
  body?: Buffer;
}

export async function replayDeadLetters(url: string, deadQueue: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  const target = options.queue ?? sourceQueueOf(deadQueue) ?? deadQueue;
  return withConnection(url, 'warren dlq replay', async (conn) => {
    const ch = await conn.createConfirmChannel();
    const total = await messageCount(ch, deadQueue, url);
    const wanted = options.keys ? new Set(options.keys) : null;
    const max = Math.min(options.limit ?? total, total);
    const targetGone = !(await queueExists(conn, target));
    let returned = false;
    ch.on('return', () => {
      returned = true;
    });

    const kept: KeptLetter[] = [];
    const replayedKeys: string[] = [];
    const found = new Set<string>();
    // With keys, the whole queue is walked (the others are held unacked and handed back at the end).
    const walkUpTo = wanted ? total : max;
    for (let taken = 0; taken < walkUpTo && replayedKeys.length + kept.length < max; taken++) {
      const msg = await ch.get(deadQueue, { noAck: false });
      if (msg === false) break;
      const key = keyOf(msg);
      if (wanted && !wanted.has(key)) continue;
      found.add(key);
      const messageId = typeof msg.properties.messageId === 'string' ? msg.properties.messageId : null;
      if (targetGone) {
        kept.push({ messageId, key, why: `the function's queue "${target}" does not exist (deleted?); start the runtime to declare it again` });
        continue;
      }
      returned = false;
      const refused = await publishConfirmed(ch, target, msg, options.body);
      if (refused || returned) {
        kept.push({ messageId, key, why: refused ?? `the broker returned the copy: no queue "${target}" takes it (deleted during the replay?)` });
        continue;
      }
      ch.ack(msg);
      replayedKeys.push(key);
    }
    // Kept and unselected messages were never acked: closing hands them back to the dead-letter queue.
    await ch.close();
    const after = await conn.createChannel();
    // A quorum queue takes the returned messages back asynchronously: its count can lag behind.
    const remaining = Math.max(await messageCount(after, deadQueue, url), total - replayedKeys.length);
    await after.close();
    const missing = options.keys ? options.keys.filter((k) => !found.has(k)) : [];
    return { queue: deadQueue, target, replayed: replayedKeys.length, replayedKeys, kept, missing, remaining };
  });
}

/** Resolves with undefined once confirmed, or with why the broker refused it. */
function publishConfirmed(ch: ConfirmChannel, queue: string, msg: GetMessage, body: Buffer | undefined): Promise<string | undefined> {
  const route = originalRouteOf(msg.properties.headers, queue);
  const options = { ...replayProperties(msg.properties as unknown as Record<string, unknown>, route), mandatory: true };
  return new Promise((resolve) => {
    ch.publish('', queue, body ?? msg.content, options, (err) => resolve(err ? `the broker refused the copy: ${String(err)}` : undefined));
  });
}
