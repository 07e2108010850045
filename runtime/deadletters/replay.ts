/**
 * Replay: a dead letter goes back to the queue of the function that dead-lettered it, through the
 * default exchange (routing key = that queue), never through its original exchange, where other
 * functions bound to the same route would get it a second time. Its original exchange and routing
 * key travel in Warren's route headers, so the handler still sees them in `ctx`.
 *
 * The rule that must never break: a dead letter leaves its queue only after the broker confirmed
 * its own replayed copy (ack after confirm), so a crash at any point loses nothing (it may at worst
 * replay a message twice, the at-least-once promise). A copy the broker returns (published
 * `mandatory`: the queue is gone) or refuses leaves the dead letter where it was, with the reason.
 *
 * Pipelined: basic.get is one round trip at a time per channel, so TAKERS channels take dead
 * letters side by side; their copies are published in the order they were taken, on one confirm
 * channel, with up to WINDOW copies awaiting their confirm. One at a time, a replay ran at the pace
 * of one get and one confirm per message (about 80 a second).
 */
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { messageCount, queueExists, sourceQueueOf, withConnection } from './connection';
import { describeDeadLetter, keyOf, originalRouteOf, replayProperties, type DeadLetter } from './describe';
import { matchesSearch } from './search';
import { FULL_READ_MAX, oldestFirst } from './list';
import { oneAtATime } from './one-at-a-time';
import { countWhenBack, takeTurn } from './turn';
import { WarrenError } from '../errors';
import { lostConnection } from '../connection/unreachable';
import type { KeptLetter, ReplayResult } from '../admin/wire-types';

export type { KeptLetter, ReplayResult } from '../admin/wire-types';

/** Channels taking dead letters at once. */
const TAKERS = 8;
/** Copies published and not yet confirmed, at most. */
const WINDOW = 256;
/**
 * Bytes of copies published and not yet confirmed, at most (one copy larger than this still goes,
 * alone): dead letters of several MiB each (a `too-large` one is up to maxBodySize) would otherwise
 * hold WINDOW bodies in memory at once, in the runtime when the dashboard replays them.
 */
const WINDOW_BYTES = 64 * 1024 * 1024;

export interface ReplayOptions {
  /** the function's queue; default: the dead-letter queue's name without `.dead` */
  queue?: string;
  /** at most this many, the oldest by their time of death up to FULL_READ_MAX letters (default: those in the queue when the replay starts, so one that dies again is not replayed twice in one run) */
  limit?: number;
  /** only the dead letters with these keys (message ids) */
  keys?: readonly string[];
  /** only the dead letters matching these words, as the dashboard's search box (./search.ts) */
  search?: string;
  /** publish this body instead of the dead letter's (one key only: the dashboard's "edit and replay") */
  body?: Buffer;
}

/** A dead letter taken, on the channel that must settle it. */
interface Taken {
  msg: GetMessage;
  channel: Channel;
}

/** A copy published and not yet confirmed. */
interface Pending {
  taken: Taken;
  key: string;
  messageId: string | null;
  content: Buffer;
  returned: boolean;
}

/** Connections a replay goes on through after losing one (a cluster node gone: the next one of the list). */
const RECONNECTS = 3;

/** What a replay did on the connections it lost, so the one after goes on from there. */
interface Progress {
  /** how many it was to replay, fixed by the first connection (the dead letters there when it began) */
  max?: number;
  replayedKeys: string[];
}

/**
 * Replays dead letters into the function's queue, each acked after its copy's confirm. A connection
 * lost on the way (its node died) is not the end: the replay goes on through another node of the list
 * with what is left. A dead letter whose copy was confirmed but whose ack went down with the
 * connection is back in the queue and replayed again: a duplicate, never a loss.
 */
export async function replayDeadLetters(url: string, deadQueue: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  let result = await oneAtATime(url, deadQueue, () => replayReconnecting(url, deadQueue, options));
  // A read in another process (`warren dlq list`, a second runtime's dashboard) holds the letters it
  // reads for a moment: a letter asked for by its id and not found is looked for again, twice.
  for (const wait of LOOK_AGAIN_MS) {
    if (!options.keys || result.missing.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, wait));
    const again = await oneAtATime(url, deadQueue, () => replayReconnecting(url, deadQueue, { ...options, keys: result.missing }));
    result = {
      ...again,
      replayed: result.replayed + again.replayed,
      replayedKeys: [...result.replayedKeys, ...again.replayedKeys],
      kept: [...result.kept, ...again.kept],
      ...(result.reconnects || again.reconnects ? { reconnects: (result.reconnects ?? 0) + (again.reconnects ?? 0) } : {}),
    };
  }
  return result;
}

/** Pauses before a letter asked for by id and not found is looked for again. */
const LOOK_AGAIN_MS = [200, 800];

async function replayReconnecting(url: string, deadQueue: string, options: ReplayOptions): Promise<ReplayResult> {
  const progress: Progress = { replayedKeys: [] };
  for (let reconnects = 0; ; reconnects++) {
    try {
      const done = progress.replayedKeys.length;
      const keys = options.keys?.filter((k) => !progress.replayedKeys.includes(k));
      // Without a limit, the next connection takes every dead letter there when it starts: those whose
      // ack went down with the lost one are back, and go again rather than stay behind.
      const limit = options.limit === undefined || progress.max === undefined ? options.limit : Math.max(0, progress.max - done);
      const result = await replayOnce(url, deadQueue, { ...options, ...(keys ? { keys } : {}), ...(limit !== undefined ? { limit } : {}) }, progress);
      if (reconnects === 0) return result;
      const replayedKeys = [...progress.replayedKeys];
      return { ...result, replayed: replayedKeys.length, replayedKeys, missing: result.missing.filter((k) => !replayedKeys.includes(k)), reconnects };
    } catch (err) {
      if (err instanceof WarrenError || !lostConnection(err)) throw err;
      const replayed = progress.replayedKeys.length;
      if (reconnects >= RECONNECTS) {
        throw new WarrenError(
          'WARREN_E_BROKER_UNREACHABLE',
          `lost the connection to the broker during the replay, ${RECONNECTS + 1} times: ${(err as Error).message}`,
          {
            hint: `${replayed} dead letter(s) were replayed (each left the dead-letter queue after its copy's confirm); every other one is still there: run the replay again once the broker is steady`,
            cause: err,
          },
        );
      }
    }
  }
}

async function replayOnce(url: string, deadQueue: string, options: ReplayOptions, progress: Progress): Promise<ReplayResult> {
  const target = options.queue ?? sourceQueueOf(deadQueue) ?? deadQueue;
  return withConnection(url, 'warren dlq replay', async (conn) => {
    // Counted once a read elsewhere has handed its letters back (the turn is given up with the connection).
    await takeTurn(conn, deadQueue);
    const publisher = await conn.createConfirmChannel();
    const total = await messageCount(publisher, deadQueue, url);
    const wanted = options.keys ? new Set(options.keys) : null;
    const search = options.search?.trim() ?? '';
    const source = sourceQueueOf(deadQueue);
    const max = Math.min(options.limit ?? total, total);
    progress.max ??= max;
    const targetGone = !(await queueExists(conn, target));

    const kept: KeptLetter[] = [];
    const replayedKeys: string[] = [];
    const found = new Set<string>();
    const pending = new Set<Pending>();
    // A returned copy is matched to its publish by content and message id: two copies alike in both
    // are interchangeable, whichever of their dead letters stays.
    publisher.on('return', (returned: { content: Buffer; properties: { messageId?: unknown } }) => {
      for (const p of pending) {
        if (!p.returned && p.messageId === (returned.properties.messageId ?? null) && p.content.equals(returned.content)) {
          p.returned = true;
          return;
        }
      }
    });

    // With keys or a search, the whole queue is walked (the others are held unacked and handed back at the end).
    // So is it for `limit`, up to FULL_READ_MAX: the oldest letters by their time of death go, as
    // `dlq list` shows them, whatever order a quorum queue handed letters back in after an earlier read.
    const oldest = !wanted && !search && max < total && total <= FULL_READ_MAX;
    const walkUpTo = wanted || search || oldest ? total : max;
    /**
     * `oldest`: the `max` oldest letters taken so far, oldest first, with their bodies. The others stay
     * unacked on their channel (the close hands them back) but are not kept here: a queue of large
     * letters held every body in memory until the walk ended to replay one.
     */
    const held: Array<{ taken: Taken; letter: DeadLetter }> = [];
    let pendingBytes = 0;
    let reserved = 0;
    let selected = 0;
    let emptied = false;
    let failed = false;
    // Dead letters taken out of turn wait here, so copies leave in the order their gets were sent.
    const arrived = new Map<number, Taken | null>();
    let next = 0;
    let roomWaiters: Array<() => void> = [];

    const confirmed = (p: Pending, err: unknown): void => {
      pending.delete(p);
      pendingBytes -= p.content.length;
      const { messageId, key } = p;
      if (err) kept.push({ messageId, key, why: refusal(err, target) });
      else if (p.returned) kept.push({ messageId, key, why: `the broker returned the copy: no queue "${target}" takes it (deleted during the replay?)` });
      else {
        p.taken.channel.ack(p.taken.msg);
        replayedKeys.push(key);
        progress.replayedKeys.push(key);
      }
      if (hasRoom()) for (const wake of roomWaiters.splice(0)) wake();
    };

    /** A dead letter chosen: its copy is published, and it is acked once the copy is confirmed. */
    const replayOne = (taken: Taken, key: string): void => {
      const { msg } = taken;
      selected++;
      found.add(key);
      const messageId = typeof msg.properties.messageId === 'string' ? msg.properties.messageId : null;
      if (targetGone) {
        kept.push({
          messageId,
          key,
          why: `the function's queue "${target}" does not exist (deleted?); a running runtime declares it again within seconds once a replica of the function finds it gone (with none running, warren deploy --all or a scale up declares it), so replay again then, or start one`,
        });
        return;
      }
      const p: Pending = { taken, key, messageId, content: options.body ?? msg.content, returned: false };
      pending.add(p);
      pendingBytes += p.content.length;
      publishCopy(publisher, target, msg, p.content, (err) => confirmed(p, err));
    };

    const handle = (taken: Taken): void => {
      // The oldest are chosen once every letter is in hand.
      if (oldest) return keepIfOldest(taken);
      const { msg } = taken;
      const key = keyOf(msg);
      if ((wanted && !wanted.has(key)) || selected >= max) return;
      if (search && !matchesSearch(describeDeadLetter(msg, source), msg.content, search)) return;
      replayOne(taken, key);
    };

    const release = (): void => {
      while (arrived.has(next)) {
        const taken = arrived.get(next)!;
        arrived.delete(next++);
        if (taken) handle(taken);
        else emptied = true;
      }
    };

    function hasRoom(): boolean {
      return pending.size === 0 || (pending.size < WINDOW && pendingBytes < WINDOW_BYTES);
    }
    const room = (): Promise<void> | undefined => (hasRoom() ? undefined : new Promise((resolve) => roomWaiters.push(resolve)));

    /** `oldest`: keeps `taken` if it is among the `max` oldest so far, dropping the newest kept past `max`. */
    const keepIfOldest = (taken: Taken): void => {
      const letter = describeDeadLetter(taken.msg, source);
      if (held.length >= max && oldestFirst(letter, held[held.length - 1]!.letter) >= 0) return;
      let lo = 0;
      let hi = held.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (oldestFirst(held[mid]!.letter, letter) <= 0) lo = mid + 1;
        else hi = mid;
      }
      held.splice(lo, 0, { taken, letter });
      if (held.length > max) held.pop();
    };

    const take = async (channel: Channel): Promise<void> => {
      for (;;) {
        await room();
        if (failed || emptied || reserved >= walkUpTo || (selected >= max && !oldest)) return;
        const seq = reserved++;
        const msg = await channel.get(deadQueue, { noAck: false });
        arrived.set(seq, msg === false ? null : { msg, channel });
        release();
      }
    };

    const takers = await Promise.all(Array.from({ length: Math.max(1, Math.min(TAKERS, walkUpTo)) }, () => conn.createChannel()));
    try {
      await Promise.all(takers.map((channel) => take(channel)));
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      roomWaiters = [];
    }
    if (oldest) {
      // Each letter described once as it came, and kept in order: the oldest `max`.
      for (const { taken, letter } of held) {
        await room();
        replayOne(taken, letter.key);
      }
    }
    // Every copy confirmed (or refused) before anything is handed back.
    while (pending.size > 0) await new Promise<void>((resolve) => roomWaiters.push(resolve));

    // Kept and unselected messages were never acked: closing hands them back to the dead-letter queue.
    await Promise.all(takers.map((channel) => channel.close()));
    await publisher.close();
    // A quorum queue takes the returned messages back asynchronously: counted once they are in.
    const remaining = await countWhenBack(conn, deadQueue, total - replayedKeys.length);
    const missing = options.keys ? options.keys.filter((k) => !found.has(k)) : [];
    return { queue: deadQueue, target, replayed: replayedKeys.length, replayedKeys, kept, missing, remaining };
  });
}

/** Publishes the copy; `done` gets undefined once it is confirmed, or the broker's refusal. */
function publishCopy(ch: ConfirmChannel, queue: string, msg: GetMessage, content: Buffer, done: (err: unknown) => void): void {
  const route = originalRouteOf(msg.properties.headers, queue);
  const options = { ...replayProperties(msg.properties as unknown as Record<string, unknown>, route), mandatory: true };
  ch.publish('', queue, content, options, (err: unknown) => done(err ?? undefined));
}

/** Why the broker refused a copy, in words: a bare nack is most often a full queue. */
function refusal(err: unknown, target: string): string {
  const said = err instanceof Error ? err.message : String(err);
  if (/nack/i.test(said))
    return `the broker refused the copy (nack): "${target}" is most likely full (a maxLength with overflow reject-publish) or the broker is short of disk or memory; make room and replay again`;
  return `the broker refused the copy: ${said}`;
}
