/**
 * Reading a dead-letter queue without removing anything: each message is taken with basic.get and
 * left unacked, then closing the channel hands them all back at once. (A nack with requeue after each
 * get would put the message back at the head, and the next get would return it again; holding them
 * unacked until the end walks the queue, and a crash hands them back too.)
 *
 * Every read walks the whole queue (up to the scan limit), even for one page: the messages handed
 * back go to the back of a quorum queue, so a walk that stopped early would move the first page
 * behind the rest. Even handed back all together, a quorum queue does not keep their order, so a page
 * is cut from the letters sorted by their time of death.
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
  const found: DeadLetter[] = [];
  const { total, scanned } = await walk(url, queue, 'warren dlq list', options.scanLimit ?? DEFAULT_SCAN_LIMIT, (msg) => {
    const letter = describeDeadLetter(msg, source);
    if (!search || matchesSearch(letter, msg.content, search)) found.push(letter);
    return true;
  });
  // Pages follow the time of death, not the queue's order: a quorum queue takes back the messages a
  // read held in an order of its own, so the next read would find them shuffled.
  found.sort(oldestFirst);
  const letters = found.slice(offset, offset + limit);
  return { queue, total, matched: search ? found.length : Math.max(total, found.length), offset, limit, scanned, letters };
}

/** By time of death, then by key: the same order from one read to the next. */
function oldestFirst(a: DeadLetter, b: DeadLetter): number {
  const at = (a.deadLetteredAt ?? '').localeCompare(b.deadLetteredAt ?? '');
  return at !== 0 ? at : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Every dead letter named `key` (a message id can occur twice: at-least-once), with the whole body. */
export async function findDeadLetters(url: string, queue: string, key: string, scanLimit = DEFAULT_SCAN_LIMIT): Promise<DeadLetterDetail[]> {
  const source = sourceQueueOf(queue);
  const found: DeadLetterDetail[] = [];
  await walk(url, queue, 'warren dlq show', scanLimit, (msg) => {
    if (keyOf(msg) === key) found.push(describeDeadLetterFully(msg, source));
    return true;
  });
  if (found.length === 0) {
    throw new WarrenError('WARREN_E_DEAD_LETTER_NOT_FOUND', `no dead letter ${key} in ${queue}`, {
      hint: 'it may have been replayed or purged meanwhile; list the queue again',
    });
  }
  return found;
}

/** Reads up to `scanLimit` messages, oldest first, handing each to `visit` until it returns false; removes none. */
async function walk(
  url: string,
  queue: string,
  name: string,
  scanLimit: number,
  visit: (msg: GetMessage) => boolean,
): Promise<{ total: number; scanned: number }> {
  return withConnection(url, name, async (conn) => {
    const ch = await conn.createChannel();
    const total = await messageCount(ch, queue, url);
    let scanned = 0;
    while (scanned < Math.min(total, scanLimit)) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      scanned++;
      if (!visit(msg)) break;
    }
    await ch.close();
    return { total, scanned };
  });
}
