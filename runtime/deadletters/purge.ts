/** Empties a dead-letter queue. */
import { messageCount, withConnection } from './connection';
import { oneAtATime } from './one-at-a-time';
import { takeTurn } from './turn';

/** Removes every message; returns how many there were. */
export async function purgeDeadLetters(url: string, queue: string): Promise<number> {
  return oneAtATime(url, queue, () =>
    withConnection(url, 'warren dlq purge', async (conn) => {
      // After a read elsewhere has handed its letters back: they are purged too.
      await takeTurn(conn, queue);
      const ch = await conn.createChannel();
      await messageCount(ch, queue, url);
      const { messageCount: purged } = await ch.purgeQueue(queue);
      await ch.close();
      return purged;
    }),
  );
}
