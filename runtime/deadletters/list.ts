/**
 * Reading a dead-letter queue without removing anything: each message is taken with basic.get and
 * held unacked until the read ends (a message handed back at once would be the next get's again).
 *
 * How they go back decides the queue's order afterwards (RabbitMQ 3.10, quorum queue): a nack with
 * requeue puts a message at the back, so nacking every message of a whole read in the order read
 * leaves the queue exactly as it was; a closed channel hands its messages back at the head, but as
 * a set, in no particular order. So a read of the whole queue (a search, opening one letter, any
 * page of a queue up to FULL_READ_MAX) nacks in order and keeps the order exact; a page of a larger
 * queue reads only as far as it shows and lets the close hand those back at the head: what lies
 * beyond keeps its place, the pages already read may come back in another order.
 */
import type { GetMessage } from 'amqplib';
import { WarrenError } from '../errors';
import { messageCount, sourceQueueOf, withConnection } from './connection';
import { describeDeadLetter, describeDeadLetterFully, keyOf, type DeadLetter, type DeadLetterDetail } from './describe';
import type { DeadLetterList, DeadLetterPage } from '../admin/wire-types';
import { matchesSearch } from './search';

export type { DeadLetterList, DeadLetterPage } from '../admin/wire-types';

export const DEFAULT_LIST_LIMIT = 20;
/** A search reads at most this many dead letters (the oldest), and says so when there are more. */
export const DEFAULT_SCAN_LIMIT = 10_000;
/** Up to this many dead letters, a page reads the whole queue and keeps its order exact (about a second). */
export const FULL_READ_MAX = 2_000;

export interface BrowseOptions {
  search?: string;
  offset?: number;
  limit?: number;
  scanLimit?: number;
}

/** The oldest `limit` dead letters. */
export async function listDeadLetters(url: string, queue: string, limit = DEFAULT_LIST_LIMIT): Promise<DeadLetterList> {
  const page = await browseDeadLetters(url, queue, { limit });
  return { queue: page.queue, total: page.total, letters: page.letters };
}

/** A page of the dead letters matching `search`, oldest first. */
export async function browseDeadLetters(url: string, queue: string, options: BrowseOptions = {}): Promise<DeadLetterPage> {
  const offset = options.offset ?? 0;
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  const search = options.search?.trim() ?? '';
  const source = sourceQueueOf(queue);
  const letters: DeadLetter[] = [];
  let matched = 0;
  const scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT;
  // Without a search, a large queue's page reads only as far as it shows.
  const readUpTo = (total: number) => (search || total <= FULL_READ_MAX ? scanLimit : Math.min(offset + limit, scanLimit));
  const { total, scanned } = await walk(url, queue, 'warren dlq list', readUpTo, (msg) => {
    if (!search && matched < offset) {
      matched++;
      return true;
    }
    const letter = describeDeadLetter(msg, source);
    if (search && !matchesSearch(letter, msg.content, search)) return true;
    if (matched >= offset && matched < offset + limit) letters.push(letter);
    matched++;
    return true;
  });
  // Unsearched, every dead letter matches, read or not.
  return { queue, total, matched: search ? matched : Math.max(total, matched), offset, limit, scanned, letters };
}

/** Every dead letter named `key` (a message id can occur twice: at-least-once), with the whole body. */
export async function findDeadLetters(url: string, queue: string, key: string, scanLimit = DEFAULT_SCAN_LIMIT): Promise<DeadLetterDetail[]> {
  const source = sourceQueueOf(queue);
  const found: DeadLetterDetail[] = [];
  await walk(
    url,
    queue,
    'warren dlq show',
    () => scanLimit,
    (msg) => {
      if (keyOf(msg) === key) found.push(describeDeadLetterFully(msg, source));
      return true;
    },
  );
  if (found.length === 0) {
    throw new WarrenError('WARREN_E_DEAD_LETTER_NOT_FOUND', `no dead letter ${key} in ${queue}`, {
      hint: 'it may have been replayed or purged meanwhile; list the queue again',
    });
  }
  return found;
}

/**
 * Reads up to `upTo(total)` messages from the head of the queue, handing each to `visit` until it
 * returns false; removes none. A read of every message hands them back in order (see the top).
 */
async function walk(
  url: string,
  queue: string,
  name: string,
  upTo: (total: number) => number,
  visit: (msg: GetMessage) => boolean,
): Promise<{ total: number; scanned: number }> {
  return withConnection(url, name, async (conn) => {
    const ch = await conn.createChannel();
    const total = await messageCount(ch, queue, url);
    const held: GetMessage[] = [];
    let stopped = false;
    while (held.length < Math.min(total, upTo(total))) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      held.push(msg);
      if (!visit(msg)) {
        stopped = true;
        break;
      }
    }
    // The whole queue read: back in the order read, each to the back, so the queue is as it was.
    if (!stopped && held.length >= total) for (const msg of held) ch.nack(msg, false, true);
    await ch.close();
    return { total, scanned: held.length };
  });
}
