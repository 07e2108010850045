/**
 * Delayed publish: one handler publishes 1,000 messages with ctx.publish(…, { delay }) of 1–10 s
 * (uniformly spread, all at once: the ladder's worst case, since messages published together expire
 * together), and a bare amqplib consumer on the target queue compares each arrival with the time it
 * was due (`x-warren-delay-due`, stamped by the publisher on this machine). Lateness < 0 is early.
 */
import amqplib from 'amqplib';
import { createVhost } from '../broker';
import { waitFor } from '../stats';
import { createProject, startWarren } from '../warren';

export interface DelayRun {
  min: number;
  p50: number;
  p99: number;
  max: number;
}

const queuesYaml = `
exchanges:
  events: { type: topic }
queues:
  arrivals: { type: classic }
bindings:
  - "events[#] -> arrivals"
functions:
  scatter: {}
`;

const scatter = `
export default async (message: { delays: number[] }, ctx: { publish(x: string, k: string, b: unknown, o: { delay: number }): Promise<void> }) => {
  await Promise.all(message.delays.map((delay, i) => ctx.publish('events', 'due', { i }, { delay })));
};
`;

export async function measureDelay(count: number, runs: number, log: (line: string) => void): Promise<DelayRun[]> {
  const project = await createProject(queuesYaml, { scatter });
  const out: DelayRun[] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      const vhost = await createVhost('delay');
      try {
        const w = await startWarren(project.dir, vhost.url);
        const conn = await amqplib.connect(vhost.url);
        try {
          const lateness: number[] = [];
          const delays = Array.from({ length: count }, () => 1_000 + Math.floor(Math.random() * 9_001));
          const ch = await conn.createChannel();
          const byDelay: Array<[number, number]> = [];
          await ch.consume(
            'arrivals',
            (m) => {
              if (!m) return;
              const late = Date.now() - Number(m.properties.headers?.['x-warren-delay-due']);
              lateness.push(late);
              byDelay.push([delays[(JSON.parse(m.content.toString()) as { i: number }).i]!, late]);
            },
            { noAck: true },
          );
          const pub = await conn.createConfirmChannel();
          pub.sendToQueue('scatter', Buffer.from(JSON.stringify({ delays })), { contentType: 'application/json', persistent: true });
          await pub.waitForConfirms();
          await waitFor(() => lateness.length >= count, 40_000, 100, `${count} delayed messages`);
          const sorted = [...lateness].sort((a, b) => a - b);
          const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
          const r = { min: sorted[0]!, p50: at(0.5), p99: at(0.99), max: sorted.at(-1)! };
          out.push(r);
          if (process.env.WARREN_BENCH_DELAY_DETAIL) {
            for (let s = 1; s <= 10; s++) {
              const l = byDelay
                .filter(([d]) => d >= s * 1000 && d < (s + 1) * 1000)
                .map(([, x]) => x)
                .sort((a, b) => a - b);
              if (l.length) log(`    delay ${s}–${s + 1} s: ${l.length} msgs, lateness p50 ${l[l.length >> 1]} ms, max ${l.at(-1)} ms`);
            }
          }
          log(`  run ${run}/${runs}: ${count} delayed messages, lateness min ${r.min} ms, p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms`);
        } finally {
          await conn.close();
          await w.stop();
        }
      } finally {
        await vhost.remove();
      }
    }
  } finally {
    await project.remove();
  }
  return out;
}
