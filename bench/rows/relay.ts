/**
 * ctx.publish with confirms: a function that republishes every message it takes to another quorum
 * queue (`await ctx.publish('', 'relay-sink', message)`, prefetch 100), timed like the drain rows,
 * against the pipelined amqplib confirms that pre-filled its queue in the same run.
 */
import { createVhost, publishBaseline, purge, queueDepth } from '../broker';
import { sleep } from '../stats';
import { createProject, startWarren } from '../warren';

const SOURCE = `import type { Handler } from 'warren';
const relay: Handler = async (message, ctx) => {
  await ctx.publish('', 'relay-sink', message);
};
export default relay;
`;

export async function measureRelay(count: number, runs: number, log: (line: string) => void): Promise<{ warren: number[]; amqplib: number[] }> {
  const vhost = await createVhost('relay');
  const project = await createProject('queues:\n  relay-sink: {}\nfunctions:\n  relay: { prefetch: 100 }\n', { relay: SOURCE });
  const out = { warren: [] as number[], amqplib: [] as number[] };
  try {
    await (await startWarren(project.dir, vhost.url)).stop();
    for (let run = 1; run <= runs; run++) {
      const base = await publishBaseline(vhost.url, 'relay', count);
      const w = await startWarren(project.dir, vhost.url, { waitRunning: false });
      let rate: number;
      try {
        const started = (await w.waitForLog((l) => l.msg === 'function started')).time;
        let t = 0;
        for (;;) {
          const acked = await w.acked('relay').catch(() => 0);
          t = Date.now();
          if (acked >= count) break;
          await sleep(count - acked > 2_000 ? 100 : 5);
        }
        rate = count / ((t - started) / 1000);
      } finally {
        await w.stop();
      }
      const relayed = await queueDepth(vhost.url, 'relay-sink');
      if (relayed !== count) throw new Error(`relay-sink holds ${relayed} messages, expected ${count}`);
      await purge(vhost.url, 'relay-sink');
      out.warren.push(rate);
      out.amqplib.push(base);
      log(`  relay run ${run}/${runs}: ctx.publish ${Math.round(rate)} msg/s (each consumed, published, confirmed, acked), amqplib confirms ${Math.round(base)} msg/s`);
    }
  } finally {
    await project.remove();
    await vhost.remove();
  }
  return out;
}
