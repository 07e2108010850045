/**
 * Soak (SPEC §9): `count` messages through 3 functions with a mix of successes, retries and dead
 * letters, while a replica is killed every `killEveryMs`. Every id must come out once: in the
 * handlers' output (the `results` queue, fed by each function's `output:`) or in a dead-letter queue.
 * Lost = ids seen nowhere; duplicates = ids seen more than once. RSS of the Warren process is read
 * after the first 100,000 messages and at the end.
 *
 * Messages are published at the pace they are consumed (at most `BACKLOG` outstanding), so the run
 * measures a runtime in a steady state rather than a broker holding a million messages.
 */
import amqplib, { type Channel, type ConfirmChannel } from 'amqplib';
import { createVhost } from '../broker';
import { sleep } from '../stats';
import { createProject, startWarren, type RunningWarren } from '../warren';

export interface SoakOptions {
  count: number;
  killEveryMs: number;
  log: (line: string) => void;
}

export interface SoakResult {
  count: number;
  /** kill messages published (each ends one replica, then succeeds on its next delivery) */
  kills: number;
  replicaDeaths: number;
  seconds: number;
  lost: number;
  duplicates: number;
  handled: number;
  deadLettered: number;
  /** of the dead letters, how many Warren made (with its headers) rather than the broker */
  deadByWarren: number;
  retried: number;
  rssAfterFirst100k: number;
  rssAtEnd: number;
  rssMax: number;
}

const FUNCTIONS = ['orders', 'emails', 'ledger'] as const;
const BACKLOG = 20_000;
const RSS_MARK = 100_000;

/**
 * The mix, by id: 2 % Reject (dead-lettered at once), 3 % fail their first attempt (retried, then
 * succeed), 1 % always fail (dead-lettered after 2 attempts), the rest succeed. A kill message exits
 * its replica on its first delivery and succeeds on the next.
 */
const handler = `
import { Reject, type Handler } from 'warren';
type In = { id: number; kill?: boolean };
const handler: Handler<In> = async (m, ctx) => {
  if (m.kill) {
    if (ctx.attempt === 1) process.exit(1);
    return { id: m.id };
  }
  const k = m.id % 100;
  if (k < 2) throw new Reject('rejected by the soak mix');
  if (k < 5 && ctx.attempt === 1) throw new Error('first attempt fails');
  if (k === 5) throw new Error('always fails');
  return { id: m.id };
};
export default handler;
`;

const yaml = `
exchanges:
  soak_out: { type: fanout }
queues:
  results: { type: classic }
bindings:
  - { exchange: soak_out, queue: results }
functions:
${FUNCTIONS.map((f) => `  ${f}: { replicas: 2, prefetch: 50, timeout: 10s, redeliveryLimit: 3, retry: { attempts: 2, backoff: fixed, delay: 200ms }, output: { exchange: soak_out } }`).join('\n')}
`;

export async function measureSoak(o: SoakOptions): Promise<SoakResult> {
  const maxKills = Math.ceil(o.count / 1_000) + 1000;
  const seen = new Uint8Array(o.count + maxKills);
  let accounted = 0;
  let handled = 0;
  let deadLettered = 0;
  let deadByWarren = 0;
  let duplicates = 0;
  const see = (id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= seen.length) return;
    if (seen[id]! > 0) duplicates++;
    else accounted++;
    seen[id] = Math.min(255, seen[id]! + 1);
  };

  const vhost = await createVhost('soak');
  const project = await createProject(yaml, Object.fromEntries(FUNCTIONS.map((f) => [f, handler])));
  let warren: RunningWarren | undefined;
  const conn = await amqplib.connect(vhost.url);
  try {
    warren = await startWarren(project.dir, vhost.url);
    const w = warren;
    const consumer: Channel = await conn.createChannel();
    await consumer.prefetch(1_000);
    const take = (queue: string, onBody: (body: { id: number }, headers: Record<string, unknown>) => void) =>
      consumer.consume(queue, (msg) => {
        if (!msg) return;
        onBody(JSON.parse(msg.content.toString()) as { id: number }, (msg.properties.headers ?? {}) as Record<string, unknown>);
        consumer.ack(msg);
      });
    await take('results', (b) => {
      handled++;
      see(b.id);
    });
    for (const f of FUNCTIONS) {
      await take(`${f}.dead`, (b, headers) => {
        deadLettered++;
        if (headers['x-warren-function'] === f) deadByWarren++;
        see(b.id);
      });
    }

    const publisher: ConfirmChannel = await conn.createConfirmChannel();
    const send = (queue: string, body: unknown) =>
      new Promise<void>((resolve, reject) =>
        publisher.sendToQueue(queue, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: 'application/json' }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );

    const began = Date.now();
    let kills = 0;
    let rssAfterFirst100k = 0;
    let rssMax = 0;
    let nextKillAt = began + o.killEveryMs;
    let nextReportAt = began + 10_000;
    let published = 0;
    let lastAccounted = -1;
    let lastMoveAt = began;
    const inFlight = new Set<Promise<void>>();
    const track = (p: Promise<void>) => {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    while (accounted < o.count + kills) {
      const now = Date.now();
      if (now >= nextKillAt && published < o.count) {
        nextKillAt += o.killEveryMs;
        const id = o.count + kills;
        kills++;
        track(send(FUNCTIONS[kills % FUNCTIONS.length]!, { id, kill: true }));
      }
      let burst = 0;
      while (published < o.count && published - accounted < BACKLOG && burst < 2_000) {
        track(send(FUNCTIONS[published % FUNCTIONS.length]!, { id: published }));
        published++;
        burst++;
      }
      if (inFlight.size > 5_000) await Promise.race(inFlight);
      if (rssAfterFirst100k === 0 && accounted >= Math.min(RSS_MARK, o.count)) {
        rssAfterFirst100k = await w.rssBytes();
        o.log(`  soak: RSS after the first ${Math.min(RSS_MARK, o.count).toLocaleString('en-US')} messages: ${Math.round(rssAfterFirst100k / 2 ** 20)} MiB`);
      }
      if (now >= nextReportAt) {
        nextReportAt += 10_000;
        const rss = await w.rssBytes();
        rssMax = Math.max(rssMax, rss);
        o.log(
          `  soak: ${Math.round((now - began) / 1000)} s, ${accounted.toLocaleString('en-US')} of ${(o.count + kills).toLocaleString('en-US')} accounted, RSS ${Math.round(rss / 2 ** 20)} MiB`,
        );
        if (accounted !== lastAccounted) {
          lastAccounted = accounted;
          lastMoveAt = now;
        } else if (now - lastMoveAt > 120_000) {
          o.log('  soak: nothing came out for 2 minutes; counting what is missing');
          break;
        }
      }
      await sleep(burst > 0 ? 0 : 20);
    }
    await Promise.all(inFlight);
    // A duplicate could still be on its way: give the last ones a moment.
    await sleep(2_000);
    const rssAtEnd = await w.rssBytes();
    rssMax = Math.max(rssMax, rssAtEnd);
    const seconds = (Date.now() - began) / 1000;
    let lost = 0;
    for (let id = 0; id < o.count + kills; id++) if (seen[id] === 0) lost++;
    const replicaDeaths = w.logs.filter((l) => String(l.msg).startsWith('replica died')).length;
    const { text: metrics } = await w.admin('GET', '/metrics');
    let retried = 0;
    for (const line of metrics.split('\n'))
      if (line.startsWith('warren_messages_total{') && line.includes('outcome="retry"')) retried += Number(line.slice(line.lastIndexOf(' ') + 1));
    return {
      count: o.count,
      kills,
      replicaDeaths,
      seconds,
      lost,
      duplicates,
      handled,
      deadLettered,
      deadByWarren,
      retried,
      rssAfterFirst100k,
      rssAtEnd,
      rssMax,
    };
  } finally {
    await conn.close().catch(() => undefined);
    await warren?.stop();
    await project.remove();
    await vhost.remove();
  }
}
