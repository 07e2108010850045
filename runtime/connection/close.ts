/**
 * Closing a connection at shutdown, bounded: a broker that accepts no more frames (out of file
 * descriptors, a node hanging) never answers connection.close, and a runtime waiting for that answer
 * did not exit on SIGTERM for 17 minutes. Past `ms` the socket is destroyed: the broker takes back
 * whatever the connection held, as it does when any client goes away.
 */
import type { ChannelModel } from 'amqplib';

export const CLOSE_WITHIN_MS = 5_000;

export async function closeWithin(connection: ChannelModel, ms = CLOSE_WITHIN_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
    timer.unref();
  });
  const closed = connection.close().then(
    () => 'closed' as const,
    () => 'closed' as const,
  );
  if ((await Promise.race([closed, late])) === 'late') {
    (connection as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
  clearTimeout(timer);
}
