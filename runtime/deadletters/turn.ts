/**
 * Turns on a dead-letter queue across processes. A read holds the letters it reads unacked until it
 * ends (./list.ts), and a queue's count leaves out what is held: a replay, a purge or another read
 * beside it, in another process (`warren dlq` beside a runtime whose dashboard shows the queue, or
 * two runtimes), saw only part of the queue. "Replay all" replayed 1,229 of 1,947 letters and exited 0.
 *
 * The turn is an exclusive queue, `warren.turn.<dead-letter queue>`, declared on the operation's own
 * connection: the broker refuses another connection's declare (405 RESOURCE_LOCKED) until this one
 * deletes it or closes, so a process that dies mid-turn gives it up with its connection. Within one
 * process, ./one-at-a-time.ts orders the operations before they get here.
 */
import { createHash } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { WarrenError } from '../errors';

/** How long an operation waits for another process's turn to end before it says so. */
export const TURN_WAIT_MS = 60_000;
/** Pause between two asks while another process has the turn. */
const RETRY_MS = 100;

/** The turn queue's name (a queue name is at most 255 bytes: a long one is shortened by a digest). */
export function turnQueueName(deadQueue: string): string {
  const name = `warren.turn.${deadQueue}`;
  if (Buffer.byteLength(name) <= 255) return name;
  return `warren.turn.${createHash('sha256').update(deadQueue).digest('hex')}`;
}

/**
 * Waits until no other process has a turn on `deadQueue`, then holds it until `conn` closes (every
 * operation has a connection of its own). A user whose permissions do not let it declare the turn
 * queue goes on without one, as before turns existed.
 */
export async function takeTurn(conn: ChannelModel, deadQueue: string, waitMs = TURN_WAIT_MS): Promise<void> {
  const name = turnQueueName(deadQueue);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const side = await conn.createChannel();
    side.on('error', () => undefined);
    try {
      // Classic, whatever the vhost's default queue type: a quorum queue cannot be exclusive.
      await side.assertQueue(name, { exclusive: true, durable: false, autoDelete: false, arguments: { 'x-queue-type': 'classic' } });
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 403) return;
      if (code !== 405) throw err;
    }
    if (Date.now() >= deadline) {
      throw new WarrenError('WARREN_E_DEAD_LETTERS_BUSY', `another process has been reading ${deadQueue} for ${Math.round(waitMs / 1000)} s`, {
        hint:
          'a large replay or a `warren dlq` command elsewhere holds it; run this again when it ends (the broker lists its connection as the owner of the queue ' +
          name +
          ')',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/**
 * The queue's count once the letters a closed channel handed back are in it again (at least
 * `atLeast`), or after `waitMs`: a quorum queue takes them back asynchronously, and the next turn
 * must count them.
 */
export async function countWhenBack(conn: ChannelModel, queue: string, atLeast: number, waitMs = 1_000): Promise<number> {
  const ch = await conn.createChannel();
  try {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { messageCount } = await ch.checkQueue(queue);
      if (messageCount >= atLeast || Date.now() >= deadline) return messageCount;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await ch.close().catch(() => undefined);
  }
}
