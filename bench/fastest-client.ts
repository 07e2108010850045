/**
 * The fastest plain client we could write for a no-op consumer: amqplib, prefetch 100, and one
 * `multiple` ack for every 50 messages (plus one for the rest at the end). Warren's no-op row is
 * measured against it side by side (SPEC §9: ≥ 0.95 × its rate).
 */
import amqplib from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);

export async function drainFastest(url: string, queue: string, count: number, prefetch = 100, ackEvery = 50, timedFrom = 0): Promise<number> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.prefetch(prefetch);
    let received = 0;
    // timedFrom > 0: only the messages after the first timedFrom are timed (a client already running).
    let started = performance.now();
    const seconds = await new Promise<number>((resolve) => {
      void ch.consume(queue, (msg) => {
        if (!msg) return;
        received++;
        if (received === timedFrom) started = performance.now();
        if (received % ackEvery === 0 || received === count) ch.ack(msg, true);
        if (received === count) resolve((performance.now() - started) / 1000);
      });
    });
    // Closing the channel first flushes its last ack (a connection close can overtake it).
    await ch.close();
    return (count - timedFrom) / seconds;
  } finally {
    await conn.close();
  }
}

/**
 * The same client in a fresh `node` process (./fresh-client.ts): no amqplib code warmed up by the
 * bench's earlier publishes and drains, as a client someone starts on a backlog.
 */
export async function drainFastestFresh(url: string, queue: string, count: number, prefetch = 100): Promise<number> {
  const script = fileURLToPath(new URL('./fresh-client.mjs', import.meta.url));
  const { stdout } = await run(process.execPath, [script, url, queue, String(count), String(prefetch)]);
  const rate = Number(stdout.trim());
  if (!(rate > 0)) throw new Error(`fresh client printed no rate: ${stdout}`);
  return rate;
}
