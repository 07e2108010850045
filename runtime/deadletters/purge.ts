/** Empties a dead-letter queue. */
import { messageCount, withConnection } from './connection';

/** Removes every message; returns how many there were. */
export async function purgeDeadLetters(url: string, queue: string): Promise<number> {
  return withConnection(url, 'warren dlq purge', async (conn) => {
    const ch = await conn.createChannel();
    await messageCount(ch, queue, url);
    const { messageCount: purged } = await ch.purgeQueue(queue);
    await ch.close();
    return purged;
  });
}
