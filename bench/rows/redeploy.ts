/**
 * Redeploy under load: functions `a` and `b` each receive a steady stream; `a` is redeployed several
 * times through the admin API (`POST /functions/a/deploy`, what `warren deploy a` calls). Every handled
 * message appends "messageId version time" to a sink file, so lost and duplicated messages are
 * counted exactly, and the first line of the new version tells when it consumed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { createVhost } from '../broker';
import { sleep, waitFor } from '../stats';
import { createProject, startWarren } from '../warren';

export interface RedeployRun {
  /** ms from the request to the first message handled by the new version */
  newVersionAfterMs: number;
  /** ms the request took (start new replicas, drain the old) */
  requestMs: number;
  /** b's msg/s while a deployed, divided by its msg/s in the same span before */
  otherRateRatio: number;
  otherRateBefore: number;
  otherRateDuring: number;
}

export interface RedeployResult {
  runs: RedeployRun[];
  published: number;
  lost: number;
  duplicated: number;
}

const handler = (version: string) => `import { appendFileSync } from 'node:fs';
const VERSION = '${version}';
export default async (_message: unknown, ctx: { messageId?: string; functionName: string }) => {
  appendFileSync(process.env.WARREN_BENCH_SINK + '/' + ctx.functionName, ctx.messageId + ' ' + VERSION + ' ' + Date.now() + '\\n');
};
`;

const BEFORE_MS = 2_000;

export async function measureRedeploy(opts: { deploys: number; ratePerFunction: number; log: (line: string) => void }): Promise<RedeployResult> {
  const vhost = await createVhost('redeploy');
  const sink = await mkdtemp(join(tmpdir(), 'warren-bench-sink-'));
  const project = await createProject('functions:\n  a: { prefetch: 10 }\n  b: { prefetch: 10 }\n', { a: handler('v1'), b: handler('v1') });
  const w = await startWarren(project.dir, vhost.url, { env: { WARREN_BENCH_SINK: sink } });
  const conn = await amqplib.connect(vhost.url);
  const published = { a: 0, b: 0 };
  let loading = true;
  const marks: Array<{ version: string; requestAt: number; answeredAt: number }> = [];
  try {
    const ch = await conn.createConfirmChannel();
    // Steady load: every 10 ms, rate/100 messages to each function, confirmed.
    const perTick = Math.max(1, Math.round(opts.ratePerFunction / 100));
    const load = (async () => {
      let next = performance.now();
      while (loading) {
        for (const fn of ['a', 'b'] as const) {
          for (let i = 0; i < perTick; i++)
            ch.publish('', fn, Buffer.from('{}'), { persistent: true, contentType: 'application/json', messageId: `${fn}-${published[fn]++}` });
        }
        await ch.waitForConfirms();
        next += 10;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
    await sleep(3_000);
    for (let k = 2; k <= opts.deploys + 1; k++) {
      const version = `v${k}`;
      await project.writeFunction('a', handler(version));
      const requestAt = Date.now();
      const res = await w.admin('POST', '/functions/a/deploy', {});
      const answeredAt = Date.now();
      if (res.status !== 200) throw new Error(`deploy answered ${res.status}: ${res.text}`);
      marks.push({ version, requestAt, answeredAt });
      await sleep(3_000);
    }
    loading = false;
    await load;
    // Everything published is handled before counting.
    await waitFor(async () => (await w.acked('a')) >= published.a && (await w.acked('b')) >= published.b, 30_000, 100, 'every message handled');
  } finally {
    loading = false;
    await conn.close().catch(() => undefined);
    await w.stop();
    await project.remove();
    await vhost.remove();
  }
  const lines = async (fn: string) =>
    (await readFile(join(sink, fn), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, version, time] = l.split(' ');
        return { id: id!, version: version!, time: Number(time) };
      });
  const a = await lines('a');
  const b = await lines('b');
  await rm(sink, { recursive: true, force: true });

  let lost = 0;
  let duplicated = 0;
  for (const [fn, seen] of [
    ['a', a],
    ['b', b],
  ] as const) {
    const counts = new Map<string, number>();
    for (const l of seen) counts.set(l.id, (counts.get(l.id) ?? 0) + 1);
    for (let i = 0; i < published[fn]; i++) {
      const n = counts.get(`${fn}-${i}`) ?? 0;
      if (n === 0) lost++;
      if (n > 1) duplicated += n - 1;
    }
  }
  const runs = marks.map((m) => {
    const first = a.find((l) => l.version === m.version);
    const span = Math.max(m.answeredAt - m.requestAt, 1);
    const during = b.filter((l) => l.time >= m.requestAt && l.time < m.answeredAt).length / (span / 1000);
    const before = b.filter((l) => l.time >= m.requestAt - BEFORE_MS && l.time < m.requestAt).length / (BEFORE_MS / 1000);
    const run: RedeployRun = {
      newVersionAfterMs: first ? first.time - m.requestAt : Number.POSITIVE_INFINITY,
      requestMs: m.answeredAt - m.requestAt,
      otherRateRatio: during / before,
      otherRateBefore: before,
      otherRateDuring: during,
    };
    opts.log(
      `  redeploy ${m.version}: new version consuming after ${run.newVersionAfterMs} ms, request ${run.requestMs} ms, b ${Math.round(during)} msg/s during vs ${Math.round(before)} before`,
    );
    return run;
  });
  return { runs, published: published.a + published.b, lost, duplicated };
}
