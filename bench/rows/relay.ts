/**
 * ctx.publish with confirms, two ways, against pipelined amqplib confirms to a quorum queue in the
 * same run:
 * - fan-out: one message makes a handler publish `count` messages (`ctx.publish` calls kept 1,000 in
 *   flight, as the amqplib baseline keeps 1,000 unconfirmed), timed inside the handler: ctx.publish
 *   itself, the SPEC's row;
 * - relay: a function that republishes every message it takes to another quorum queue (prefetch 100),
 *   timed like the drain rows: consuming, publishing, confirming and acking each message.
 */
import { createVhost, publishBaseline, publishJson, purge, queueDepth } from '../broker';
import { sleep } from '../stats';
import { createProject, startWarren } from '../warren';

const SOURCE = `import type { Handler } from 'warren';
const relay: Handler = async (message, ctx) => {
  await ctx.publish('', 'relay-sink', message);
};
export default relay;
`;

const FANOUT = `import type { Handler } from 'warren';
const fanout: Handler<{ count: number }> = async ({ count }, ctx) => {
  const started = performance.now();
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const confirmed = () => {
    inFlight--;
    if (wake && inFlight < 1_000) (wake(), (wake = null));
  };
  for (let i = 0; i < count; i++) {
    inFlight++;
    ctx.publish('', 'fanout-sink', { i }).then(confirmed, (err) => { throw err; });
    if (inFlight >= 1_000) await new Promise<void>((resolve) => (wake = resolve));
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  ctx.log.info({ published: count, ms: performance.now() - started }, 'fanout done');
};
export default fanout;
`;

/** ctx.publish throughput: one handler run publishing `count` messages with confirms. */
export async function measureFanout(count: number, runs: number, log: (line: string) => void): Promise<{ warren: number[]; amqplib: number[] }> {
  const vhost = await createVhost('fanout');
  const project = await createProject('queues:\n  fanout-sink: {}\n  baseline-sink: {}\nfunctions:\n  fanout: {}\n', { fanout: FANOUT });
  const out = { warren: [] as number[], amqplib: [] as number[] };
  try {
    for (let run = 1; run <= runs; run++) {
      const w = await startWarren(project.dir, vhost.url);
      let rate: number;
      try {
        await publishJson(vhost.url, 'fanout', { count });
        const done = await w.waitForLog((l) => l.msg === 'fanout done', 120_000);
        rate = count / ((done.ms as number) / 1000);
      } finally {
        await w.stop();
      }
      const base = await publishBaseline(vhost.url, 'baseline-sink', count);
      const published = await queueDepth(vhost.url, 'fanout-sink');
      if (published !== count) throw new Error(`fanout-sink holds ${published} messages, expected ${count}`);
      await purge(vhost.url, 'fanout-sink');
      await purge(vhost.url, 'baseline-sink');
      out.warren.push(rate);
      out.amqplib.push(base);
      log(`  fanout run ${run}/${runs}: ctx.publish ${Math.round(rate)} msg/s (1,000 in flight), amqplib confirms ${Math.round(base)} msg/s`);
    }
  } finally {
    await project.remove();
    await vhost.remove();
  }
  return out;
}

export async function measureRelay(count: number, runs: number, log: (line: string) => void): Promise<{ warren: number[]; amqplib: number[] }> {
  const vhost = await createVhost('relay');
  const project = await createProject('queues:\n  relay-sink: {}\nfunctions:\n  relay: { prefetch: 100 }\n', { relay: SOURCE });
  const out = { warren: [] as number[], amqplib: [] as number[] };
  try {
    await (await startWarren(project.dir, vhost.url)).stop();
    for (let run = 1; run <= runs; run++) {
      const base = await publishBaseline(vhost.url, 'relay', count);
      const w = await startWarren(project.dir, vhost.url, { waitReady: false });
      let rate: number;
      try {
        const started = (await w.waitForLog((l) => l.msg === 'function started', 30_000)).time;
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
      log(
        `  relay run ${run}/${runs}: ctx.publish ${Math.round(rate)} msg/s (each consumed, published, confirmed, acked), amqplib confirms ${Math.round(base)} msg/s`,
      );
    }
  } finally {
    await project.remove();
    await vhost.remove();
  }
  return out;
}
