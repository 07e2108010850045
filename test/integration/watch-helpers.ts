/**
 * Shared by the --watch, dev and dlq integration tests: a results exchange/queue handlers publish to,
 * and real-time consumer counts of a queue that may not exist yet.
 */
import type amqplib from 'amqplib';

/** A fanout exchange `results` feeding the classic queue `results`: handlers report what they handled there. */
export const RESULTS_YAML = `exchanges:
  results: { type: fanout }
queues:
  results: { type: classic }
bindings:
  - { exchange: results, queue: results, routingKey: '' }
`;

/** A handler that publishes `{ tag, handled }` to the results exchange (optionally failing while `flagFile` exists). */
export function reportingHandler(tag: string, flagFile?: string): string {
  return `import { existsSync } from 'node:fs';
import type { Handler } from 'warren';

const handler: Handler = async (message, ctx) => {
  ${flagFile ? `if (existsSync(${JSON.stringify(flagFile)})) throw new Error('flag is up: ' + JSON.stringify(message));` : ''}
  await ctx.publish('results', '', { tag: ${JSON.stringify(tag)}, handled: message, attempt: ctx.attempt });
  return null;
};
export default handler;
`;
}

/** The queue's consumer count now, or -1 while the queue does not exist. */
export async function consumerCount(conn: amqplib.ChannelModel, queue: string): Promise<number> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    return (await ch.checkQueue(queue)).consumerCount;
  } catch {
    return -1;
  } finally {
    await ch.close().catch(() => undefined);
  }
}
