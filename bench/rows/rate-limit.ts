/**
 * `rateLimit: 100/s`, 2 replicas, 1,000 messages published at once: the most handler starts in any
 * 1 s window (from the handlers' own timestamps) and the time from the function starting to the last
 * start (the ideal is 10 s).
 */
import amqplib from 'amqplib';
import { createVhost, publishBaseline } from '../broker';
import { waitFor } from '../stats';
import { createProject, startWarren } from '../warren';

const stampSource = `export default async (_body: unknown, ctx: { publish(e: string, r: string, b: unknown): Promise<void> }) => {
  const at = Date.now();
  await ctx.publish('', 'starts', { at });
};
`;

export interface RateRun {
  maxPerSecond: number;
  totalMs: number;
}

export async function measureRateLimit(count: number, runs: number, log: (line: string) => void): Promise<RateRun[]> {
  const vhost = await createVhost('rate');
  const project = await createProject('queues:\n  starts: { type: classic }\nfunctions:\n  limited: { rateLimit: 100/s, replicas: 2, prefetch: 100 }\n', {
    limited: stampSource,
  });
  const out: RateRun[] = [];
  try {
    await (await startWarren(project.dir, vhost.url)).stop();
    for (let run = 1; run <= runs; run++) {
      await publishBaseline(vhost.url, 'limited', count);
      const conn = await amqplib.connect(vhost.url);
      const starts: number[] = [];
      try {
        const ch = await conn.createChannel();
        await ch.purgeQueue('starts');
        await ch.consume('starts', (m) => m && starts.push((JSON.parse(m.content.toString()) as { at: number }).at), { noAck: true });
        const w = await startWarren(project.dir, vhost.url, { waitReady: false });
        try {
          const began = (await w.waitForLog((l) => l.msg === 'function started' && l['function'] === 'limited')).time;
          await waitFor(() => starts.length >= count, 60_000, 50, `${count} starts`);
          starts.sort((a, b) => a - b);
          let most = 0;
          for (let i = 0, j = 0; i < starts.length; i++) {
            while (j < starts.length && starts[j]! < starts[i]! + 1_000) j++;
            most = Math.max(most, j - i);
          }
          // from the first start the ideal is 10 s for 1,000 messages: the last starts at 9.99 s
          const totalMs = starts.at(-1)! - Math.min(began, starts[0]!) + 10;
          out.push({ maxPerSecond: most, totalMs });
          log(`  run ${run}/${runs}: at most ${most} started in any 1 s window; ${count} started in ${(totalMs / 1000).toFixed(2)} s`);
        } finally {
          await w.stop();
        }
      } finally {
        await conn.close();
      }
    }
  } finally {
    await project.remove();
    await vhost.remove();
  }
  return out;
}
