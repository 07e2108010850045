/**
 * Asking the broker whether something exists, on a channel of its own: a 404 (or 406) closes the
 * channel that asked, so no channel in use is ever risked. The topology preflight, a replica's
 * publisher and `warren publish` ask this way.
 */
import type { Channel, ChannelModel } from 'amqplib';

export type Probe<T> = { ok: true; value: T } | { ok: false; code: number | undefined; message: string };

/** Runs one operation on a fresh channel and closes the channel whatever happened. */
export async function probe<T>(conn: ChannelModel, op: (ch: Channel) => Promise<T>): Promise<Probe<T>> {
  const ch = await conn.createChannel();
  let closed = false;
  ch.on('error', () => {
    // The broker closing the channel (404/406) is the answer we are asking for, not a failure.
  });
  ch.on('close', () => {
    closed = true;
  });
  try {
    return { ok: true, value: await op(ch) };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    return { ok: false, code: typeof e.code === 'number' ? e.code : undefined, message: String(e.message ?? err) };
  } finally {
    if (!closed) await ch.close().catch(() => undefined);
  }
}

/** Whether `exchange` exists; '' (the default exchange) always does. Rejects only when the broker could not be asked. */
export async function exchangeExists(conn: ChannelModel, exchange: string): Promise<boolean> {
  if (exchange === '') return true;
  const answer = await probe(conn, (ch) => ch.checkExchange(exchange));
  if (answer.ok) return true;
  if (answer.code === 404) return false;
  throw new Error(answer.message);
}
