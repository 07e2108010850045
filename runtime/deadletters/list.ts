/**
 * Reading a dead-letter queue without removing anything: a consumer with room for every message the
 * read wants takes them from the head and holds them unacked until the read ends (a message handed
 * back at once would come again); closing the channel hands them all back.
 *
 * A quorum queue (RabbitMQ 3.10) takes them back at its head but in an order of its own (nacked one
 * by one in the order read, too), so the queue's order cannot be what a page follows. Pages follow
 * the time each letter died: a page of a queue up to FULL_READ_MAX reads the whole queue and sorts
 * it, exact from one read to the next. A page of a larger queue reads only as far as it shows and
 * sorts what it read: the first letters the queue hands out, which on a quorum queue are not the same
 * from one read to the next (what a read held goes back behind what earlier reads held), so
 * FULL_READ_MAX is as large as a read stays quick (10,000 letters: about 0.2 s).
 * A search reads the whole queue, up to the scan limit.
 */
import type { Channel, Message } from 'amqplib';
import { WarrenError } from '../errors';
import { messageCount, sourceQueueOf, withConnection } from './connection';
import { describeDeadLetter, describeDeadLetterFully, keyOf, type DeadLetter, type DeadLetterDetail } from './describe';
import type { DeadLetterList, DeadLetterPage } from '../admin/wire-types';
import { matchesSearch } from './search';
import { oneAtATime } from './one-at-a-time';
import { countWhenBack, takeTurn } from './turn';

export type { DeadLetterList, DeadLetterPage } from '../admin/wire-types';

export const DEFAULT_LIST_LIMIT = 20;
/** A search reads at most this many dead letters (the oldest), and says so when there are more. */
export const DEFAULT_SCAN_LIMIT = 10_000;
/**
 * Up to this many dead letters, a page (and `replay --limit`) reads the whole queue and keeps its
 * order exact. It was 2,000 when each letter cost a round trip; with 2,100 letters, `dlq list --limit 3`
 * then showed other letters at each run once a page had read the whole queue, and `replay --limit 3`
 * replayed letters the list had not shown.
 */
export const FULL_READ_MAX = DEFAULT_SCAN_LIMIT;

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

/** A page of the dead letters matching `search`, oldest first (by the time they died). */
export async function browseDeadLetters(url: string, queue: string, options: BrowseOptions = {}): Promise<DeadLetterPage> {
  const offset = options.offset ?? 0;
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  const search = options.search?.trim() ?? '';
  const source = sourceQueueOf(queue);
  const found: DeadLetter[] = [];
  const scanLimit = options.scanLimit ?? DEFAULT_SCAN_LIMIT;
  // Without a search, a large queue's page reads only as far as it shows.
  const readUpTo = (total: number) => (search || total <= FULL_READ_MAX ? scanLimit : Math.min(offset + limit, scanLimit));
  const { total, scanned } = await walk(url, queue, 'warren dlq list', readUpTo, (msg) => {
    const letter = describeDeadLetter(msg, source);
    if (!search || matchesSearch(letter, msg.content, search)) found.push(letter);
    return true;
  });
  found.sort(oldestFirst);
  const letters = found.slice(offset, offset + limit);
  // Unsearched, every dead letter matches, read or not.
  return { queue, total, matched: search ? found.length : Math.max(total, found.length), offset, limit, scanned, letters };
}

/** By the time of death, then by key: the same order from one read to the next, whatever the queue's. */
export function oldestFirst(a: DeadLetter, b: DeadLetter): number {
  const at = (a.deadLetteredAt ?? '').localeCompare(b.deadLetteredAt ?? '');
  return at !== 0 ? at : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
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

/** Reads up to `upTo(total)` messages from the head of the queue, handing each to `visit` until it returns false; removes none. */
async function walk(
  url: string,
  queue: string,
  name: string,
  upTo: (total: number) => number,
  visit: (msg: Message) => boolean,
): Promise<{ total: number; scanned: number }> {
  return oneAtATime(url, queue, () =>
    withConnection(url, name, async (conn) => {
      // Counted once a read elsewhere has handed its letters back (the turn is given up with the connection).
      await takeTurn(conn, queue);
      const ch = await conn.createChannel();
      const total = await messageCount(ch, queue, url);
      const max = Math.min(total, upTo(total));
      const scanned = max > 0 ? await readHead(ch, queue, max, visit) : 0;
      await ch.close();
      if (scanned > 0) await countWhenBack(conn, queue, total);
      return { total, scanned };
    }),
  );
}

/** No delivery for this long: the queue has no more to give (others took some since it was counted). */
const READ_QUIET_MS = 300;

/**
 * Up to `max` messages from the head of the queue, unacked (the channel's close hands them back),
 * each to `visit` until it returns false. A consumer with a prefetch of `max` has the broker stream
 * them: a basic.get a letter was a round trip each, 23 s for 2,400 dead letters on a busy broker.
 */
function readHead(ch: Channel, queue: string, max: number, visit: (msg: Message) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let scanned = 0;
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      resolve(scanned);
    };
    const wait = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, READ_QUIET_MS);
    };
    ch.on('close', finish);
    void ch
      .prefetch(Math.min(max, MAX_PREFETCH), false)
      .then(() =>
        ch.consume(queue, (msg) => {
          if (done) return;
          if (!msg) return finish(); // cancelled by the broker: the queue was deleted
          scanned++;
          if (!visit(msg) || scanned >= max) finish();
          else wait();
        }),
      )
      .then(wait, (err: unknown) => {
        done = true;
        clearTimeout(quiet);
        reject(err as Error);
      });
  });
}

/** basic.qos takes a 16-bit count; the scan limit stays well below it. */
const MAX_PREFETCH = 65_535;
