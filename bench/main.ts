/**
 * `npm run bench`: every row of SPEC §9, each against a baseline measured in the same run on the same
 * machine. Prints the table; writes bench/results.json and bench/results.md.
 *
 * Environment (all optional): WARREN_BENCH_RUNS (default 3), WARREN_BENCH_COUNT (messages of the
 * no-op row, default 100000), WARREN_BENCH_ONLY=drain,warm,slow,relay,redeploy,startup,batch,rate,cluster,dashboard,delay (a subset; results
 * files are then left alone, unless WARREN_BENCH_MERGE=1: the rows measured are then merged into
 * bench/results.json and shown in their own section of bench/results.md; `noop` is the no-op row
 * against amqplib alone, without BullMQ and the publish row: the quick check that the hot path did not
 * regress; `cluster` starts a private 3-node RabbitMQ cluster), WARREN_BENCH_PROFILE=DIR (run the
 * no-op Warren child under --cpu-prof), WARREN_BENCH_NODE_ARGS='--flag …' (node flags for the no-op Warren child, to
 * compare V8 settings side by side with the clients). `npm run bench -- --only noop` is the same as WARREN_BENCH_ONLY=noop.
 * The soak (`--only soak`; WARREN_BENCH_SOAK_COUNT, default 1000000, and WARREN_BENCH_SOAK_KILL_MS,
 * default 30000) takes minutes: it runs only when named, and writes its own section of bench/results.md.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem, platform, release } from 'node:os';
import { join } from 'node:path';
import { brokerOverview } from './broker';
import { formatTable, ratioRow, toJson, type Row } from './report';
import { round, summarize } from './stats';
import { measureDrain, measureWarm } from './rows/drain';
import { measureFanout, measureRelay } from './rows/relay';
import { measureRedeploy } from './rows/redeploy';
import { measureStartup } from './rows/startup';
import { measureSoak } from './rows/soak';
import { keptSoakSection, soakRow, writeSoakSection } from './soak-report';
import { measureCluster } from './rows/cluster';
import { measureDashboard } from './rows/dashboard';
import { measureDelay } from './rows/delay';
import { measureBatchInsert } from './rows/batch-insert';
import { measureRateLimit } from './rows/rate-limit';
import { repoRoot } from './warren';
import { ensureBroker } from '../test/testkit/broker-ready';

const env = process.env;
const RUNS = Number(env.WARREN_BENCH_RUNS ?? 3);
const COUNT = Number(env.WARREN_BENCH_COUNT ?? 100_000);
const onlyArg = process.argv.indexOf('--only');
const onlyList = onlyArg >= 0 ? process.argv[onlyArg + 1] : env.WARREN_BENCH_ONLY;
const only = onlyList?.split(',').map((s) => s.trim());
const runs = (group: string) => !only || only.includes(group);
const log = (line: string) => process.stdout.write(`${line}\n`);
const MiB = 2 ** 20;
const IDEAL_5MS = (4 * 10) / 0.005;

// A stock local broker has its management plugin off: enabled here, as the test set-up does.
await ensureBroker();

const rows: Record<string, Row> = {};
const notes: string[] = [];
const began = Date.now();

/** The no-op rows: Warren against a bare amqplib consumer and against the fastest plain client, same runs. */
function noopRows(r: { warren: number[]; amqplib: number[]; fastest: number[]; fastestFresh: number[] }): void {
  const what = `no-op, ${COUNT / 1000}k persistent msgs, 1 replica, prefetch 100`;
  rows.noop_vs_amqplib = ratioRow(what, 'msg/s', r.warren, 'amqplib consumer', r.amqplib, 0.9);
  rows.noop_vs_fastest = ratioRow(what, 'msg/s', r.warren, 'fastest client (multiple ack per 50)', r.fastest, 0.95);
  // Reported beside the target row: the row's client runs in the bench's process, whose amqplib code
  // earlier publishes and drains have warmed up; Warren's replica, like this client, starts cold.
  rows.noop_vs_fresh_client = ratioRow(what, 'msg/s', r.warren, 'the same client, a fresh process', r.fastestFresh, null);
}

/** A reported row: the no-op row once the replica runs warm (WARREN_BENCH_ONLY=warm runs it alone). */
async function warmRow(): Promise<void> {
  log(`no-op function once warm: the second ${COUNT} of a backlog of ${2 * COUNT} (${RUNS} runs)`);
  const warm = await measureWarm({ fn: 'noop', count: COUNT, runs: RUNS, log });
  rows.noop_warm_vs_fastest = ratioRow(
    `no-op, the second ${COUNT / 1000}k of ${(2 * COUNT) / 1000}k msgs (a running replica), prefetch 100`,
    'msg/s',
    warm.warren,
    'fastest client, the same way',
    warm.fastest,
    null,
  );
}

/**
 * WARREN_BENCH_PROFILE=<dir>: the no-op Warren child runs under --cpu-prof, its profiles written there;
 * otherwise WARREN_BENCH_NODE_ARGS: the node flags it runs with.
 */
const profiled = env.WARREN_BENCH_PROFILE
  ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', env.WARREN_BENCH_PROFILE] }
  : env.WARREN_BENCH_NODE_ARGS
    ? { nodeArgs: env.WARREN_BENCH_NODE_ARGS.split(' ').filter(Boolean) }
    : {};

if (runs('drain')) {
  // An even number of runs: each consumer drains first in half of them (the order matters on a quorum queue).
  const drainRuns = RUNS + (RUNS % 2);
  log(`no-op function, ${COUNT} persistent messages, 1 replica, prefetch 100 (${drainRuns} runs)`);
  const r = await measureDrain({
    fn: 'noop',
    count: COUNT,
    replicas: 1,
    prefetch: 100,
    workMs: 0,
    runs: drainRuns,
    withBullmq: true,
    withPublish: true,
    withFastest: true,
    log,
    ...profiled,
  });
  noopRows(r);
  rows.noop_vs_bullmq = ratioRow(`no-op, ${COUNT / 1000}k jobs, concurrency 100`, 'msg/s', r.warren, 'BullMQ worker', r.bullmq, 2);
  rows.publish_cli = ratioRow(
    `warren publish --count ${COUNT / 1000}k (confirms)`,
    'msg/s',
    r.publishWarren,
    'amqplib pipelined confirms',
    r.publishAmqplib,
    0.8,
  );
  await warmRow();
  const amqVsBull = summarize(r.amqplib.map((a, i) => a / r.bullmq[i]!));
  notes.push(
    `On this machine a bare amqplib consumer drains ${round(amqVsBull.median, 2)}× BullMQ's rate (${round(amqVsBull.min, 2)}–${round(amqVsBull.max, 2)}), ` +
      `so 2× BullMQ asks Warren for ${round(2 / amqVsBull.median, 2)}× a bare amqplib consumer.`,
  );
  const m = (xs: number[]) => Math.round(summarize(xs).median);
  notes.push(
    `CPU per message in the no-op row (median): Warren's process ${m(r.cpu.warren)} µs, the broker meanwhile ${m(r.cpu.brokerWarren)} µs; ` +
      `bare amqplib ${m(r.cpu.amqplib)} µs, the broker meanwhile ${m(r.cpu.brokerAmqplib)} µs; ` +
      `the fastest client ${m(r.cpu.fastest)} µs, the broker meanwhile ${m(r.cpu.brokerFastest)} µs; ${cpus().length} cores shared by broker and consumer.`,
  );
}

if (only?.includes('noop')) {
  const noopRuns = RUNS + (RUNS % 2);
  log(`no-op function, ${COUNT} persistent messages, 1 replica, prefetch 100, against amqplib only (${noopRuns} runs)`);
  const r = await measureDrain({
    fn: 'noop',
    count: COUNT,
    replicas: 1,
    prefetch: 100,
    workMs: 0,
    runs: noopRuns,
    withBullmq: false,
    withPublish: false,
    withFastest: true,
    log,
    ...profiled,
  });
  noopRows(r);
}

if (only?.includes('warm')) await warmRow();

if (runs('slow')) {
  const count = Math.round(COUNT * 0.4);
  log(`handler awaiting 5 ms, replicas 4, prefetch 10, ${count} messages (${RUNS} runs)`);
  const r = await measureDrain({ fn: 'slow', count, replicas: 4, prefetch: 10, workMs: 5, runs: RUNS, withBullmq: false, withPublish: false, log });
  const ideal = r.warren.map(() => IDEAL_5MS);
  rows.await_5ms = ratioRow(`handler awaits 5 ms, replicas 4, prefetch 10 (${count / 1000}k msgs)`, 'msg/s', r.warren, 'ideal 40 / 5 ms', ideal, 0.85);
  const amq = summarize(r.amqplib);
  rows.await_5ms.note = `bare amqplib, 4 channels × prefetch 10, setTimeout 5 ms before each ack: ${Math.round(amq.median)} msg/s (${Math.round(amq.min)}–${Math.round(amq.max)}) = ${round(amq.median / IDEAL_5MS, 2)} × ideal`;
  notes.push(`5 ms row: ${rows.await_5ms.note}; Warren reaches ${round(summarize(r.warren).median / amq.median, 2)}× of that.`);
  // The same on a classic queue (queues.yaml `type: classic`): a quorum queue hands a consumer its next
  // message only once the broker has written the previous one's ack to its log, the wait both
  // consumers above share; a classic queue does not wait for the disk, which shows Warren's own part.
  log(`the same on a classic queue, ${count} messages (${RUNS} runs)`);
  const c = await measureDrain({
    fn: 'slowc',
    count,
    replicas: 4,
    prefetch: 10,
    workMs: 5,
    runs: RUNS,
    withBullmq: false,
    withPublish: false,
    queueType: 'classic',
    log,
  });
  rows.await_5ms_classic = ratioRow(
    `handler awaits 5 ms, replicas 4, prefetch 10, classic queue (${count / 1000}k msgs)`,
    'msg/s',
    c.warren,
    'ideal 40 / 5 ms',
    c.warren.map(() => IDEAL_5MS),
    null,
  );
  const amqc = summarize(c.amqplib);
  rows.await_5ms_classic.note = `bare amqplib on the classic queue: ${Math.round(amqc.median)} msg/s (${Math.round(amqc.min)}–${Math.round(amqc.max)}) = ${round(amqc.median / IDEAL_5MS, 2)} × ideal`;
}

if (runs('relay')) {
  const count = Math.round(COUNT * 0.2);
  log(`ctx.publish: a function republishing each message to another quorum queue, ${count} messages (${RUNS} runs)`);
  const f = await measureFanout(count, RUNS, log);
  rows.publish_ctx = ratioRow(
    `ctx.publish with confirms, 1,000 in flight, from one handler (${count / 1000}k msgs)`,
    'msg/s',
    f.warren,
    'amqplib pipelined confirms',
    f.amqplib,
    0.8,
  );
  const r = await measureRelay(count, RUNS, log);
  rows.relay_ctx = ratioRow(
    `relay: consume, ctx.publish, confirm, ack each message, prefetch 100 (${count / 1000}k msgs)`,
    'msg/s',
    r.warren,
    'amqplib pipelined confirms',
    r.amqplib,
    null,
  );
}

if (runs('redeploy')) {
  log(`redeploy of one function under load (${RUNS} redeploys, 500 msg/s to each of two functions)`);
  const r = await measureRedeploy({ deploys: RUNS, ratePerFunction: 500, log });
  const after = summarize(r.runs.map((x) => x.newVersionAfterMs));
  rows.redeploy_new_version = {
    what: 'redeploy under load: request → first message handled by the new version',
    unit: 'ms',
    figure: after,
    baseline: null,
    ratio: null,
    target: '< 1000 ms',
    met: after.max < 1000,
    note: `request itself (start new, drain old): ${Math.round(summarize(r.runs.map((x) => x.requestMs)).median)} ms median`,
  };
  rows.redeploy_lost_duplicated = {
    what: `redeploy under load: messages lost + duplicated (of ${r.published})`,
    unit: 'msgs',
    figure: summarize([r.lost + r.duplicated]),
    baseline: null,
    ratio: null,
    target: '0 lost, 0 duplicated',
    met: r.lost === 0 && r.duplicated === 0,
    note: `lost ${r.lost}, duplicated ${r.duplicated}`,
  };
  rows.redeploy_other_rate = ratioRow(
    "redeploy: the other function's rate during the deploy",
    'msg/s',
    r.runs.map((x) => x.otherRateDuring),
    'same function, 2 s before',
    r.runs.map((x) => x.otherRateBefore),
    0.9,
  );
}

if (runs('batch')) {
  // 50k by default: the batch side drains that in about 1.5 s; with 20k (0.6 s) its start (the
  // handler's PostgreSQL pool connecting, a cold replica) weighed on the rate and spread the runs 4.3–6.6×.
  const count = Math.round(COUNT * 0.5);
  log(`batch size 100, one multi-row INSERT, against one INSERT per message (PostgreSQL), ${count} messages (${RUNS} runs)`);
  const r = await measureBatchInsert(count, RUNS, log);
  rows.batch_insert = ratioRow(
    `batch size 100, one multi-row INSERT (${count / 1000}k msgs)`,
    'msg/s',
    r.batch,
    'one INSERT per message, prefetch 100',
    r.single,
    5,
  );
}

if (runs('rate')) {
  log(`rateLimit: 100/s, 2 replicas, 1,000 messages published at once (${RUNS} runs)`);
  const r = await measureRateLimit(1_000, RUNS, log);
  const most = summarize(r.map((x) => x.maxPerSecond));
  rows.rate_limit_window = {
    what: 'rateLimit 100/s, 2 replicas: most starts in any 1 s window',
    unit: 'starts',
    figure: most,
    baseline: null,
    ratio: null,
    target: '≤ 100',
    met: most.max <= 100,
  };
  const total = summarize(r.map((x) => x.totalMs / 1000));
  rows.rate_limit_total = {
    what: 'rateLimit 100/s, 2 replicas: 1,000 messages started in',
    unit: 's',
    figure: total,
    baseline: null,
    ratio: null,
    target: '10 s ± 5 %',
    met: total.min >= 9.5 && total.max <= 10.5,
  };
}

if (runs('startup')) {
  log(`start-up and idle memory, 20 functions × 1 replica, then 1 function (${RUNS} runs each)`);
  const twenty = await measureStartup(20, RUNS, log);
  const one = await measureStartup(1, RUNS, log);
  const ready = summarize(twenty.map((x) => x.readyMs));
  rows.startup_20 = {
    what: 'start 20 functions: spawn → /readyz 200 (cold: fresh vhost, fresh build)',
    unit: 'ms',
    figure: ready,
    baseline: null,
    ratio: null,
    target: '< 3000 ms',
    met: ready.max < 3000,
  };
  const rss20 = summarize(twenty.map((x) => x.rssBytes / MiB));
  const rss1 = summarize(one.map((x) => x.rssBytes / MiB));
  rows.memory_20 = {
    what: 'idle RSS, 20 functions × 1 replica',
    unit: 'MiB',
    figure: rss20,
    baseline: { label: '1 function', unit: 'MiB', value: rss1 },
    ratio: null,
    target: '< 1024 MiB',
    met: rss20.max < 1024,
  };
  const perReplica = summarize(twenty.map((x, i) => (x.rssBytes - one[i]!.rssBytes) / 19 / MiB));
  rows.memory_per_replica = {
    what: 'idle RSS per replica = (RSS(20) − RSS(1)) / 19',
    unit: 'MiB',
    figure: perReplica,
    baseline: null,
    ratio: null,
    target: 'report',
    met: true,
  };
}

// Named only: minutes long, and never part of CI.
if (only?.includes('soak')) {
  const count = Number(env.WARREN_BENCH_SOAK_COUNT ?? 1_000_000);
  const killEveryMs = Number(env.WARREN_BENCH_SOAK_KILL_MS ?? 30_000);
  log(`soak: ${count} messages through 3 functions (successes, retries, dead letters), a replica killed every ${killEveryMs / 1000} s`);
  const r = await measureSoak({ count, killEveryMs, log });
  Object.assign(rows, soakRow(r));
  await writeSoakSection(join(repoRoot, 'bench', 'results.md'), r);
}

if (runs('cluster')) {
  const count = Math.round(COUNT * 0.2);
  log(`3-node RabbitMQ cluster: no-op drain of ${count} messages, then a node killed under a steady stream (${RUNS} runs each)`);
  const r = await measureCluster(count, RUNS, log);
  rows.cluster_noop = ratioRow(
    `no-op on a 3-node cluster (quorum queue), ${count / 1000}k msgs, prefetch 100`,
    'msg/s',
    r.warren,
    'amqplib consumer, same node',
    r.amqplib,
    0.9,
  );
  const resume = summarize(r.resumeMs);
  rows.cluster_node_kill = {
    what: 'kill -9 of a node under a steady stream → every function (3) consuming again',
    unit: 'ms',
    figure: resume,
    baseline: null,
    ratio: null,
    target: '< 5000 ms, 0 lost',
    met: resume.max < 5000 && r.lost === 0,
    note: `${r.published} messages published across ${RUNS} kills: ${r.lost} lost, ${r.duplicated} duplicated`,
  };
}

if (runs('dashboard')) {
  const rate = Number(env.WARREN_BENCH_DASHBOARD_RATE ?? 10_000);
  log(`dashboard: first load, and runtime CPU draining ${rate} msg/s without and with 3 open dashboards (${RUNS} runs)`);
  const r = await measureDashboard({ runs: RUNS, windowMs: 15_000, rate, log });
  const load = summarize(r.firstLoadBytes.map((b) => b / 1024));
  rows.dashboard_first_load = {
    what: 'dashboard first load, 3 functions (fresh browser profile)',
    unit: 'KiB',
    figure: load,
    baseline: null,
    ratio: null,
    target: '< 300 KB',
    met: load.max * 1024 < 300_000,
  };
  // The runtime's CPU grows with the messages it handles; on a shared machine the rate it reaches
  // differs between windows, so the "without" figure is scaled to the rate of the "with" window
  // (idle CPU + per-message CPU × rate) before subtracting. The raw difference is in the note.
  const perMessage = (i: number) => (r.cpuWithout[i]! - r.idleWithout) / Math.max(1, r.rateWithout[i]!);
  const expected = r.cpuWith.map((_, i) => r.idleWithout + perMessage(i) * r.rateWith[i]!);
  const added = summarize(r.cpuWith.map((c, i) => c - expected[i]!));
  const raw = summarize(r.cpuWith.map((c, i) => c - r.cpuWithout[i]!));
  rows.dashboard_cpu = {
    what: `runtime CPU added by 3 open dashboards while draining (asked: ${rate / 1000}k msg/s)`,
    unit: '% of a core',
    figure: added,
    baseline: { label: 'runtime CPU without dashboards, at the same rate', unit: '% of a core', value: summarize(expected) },
    ratio: summarize(r.cpuWith.map((c, i) => c / expected[i]!)),
    target: '< 2 % added',
    met: added.median < 2,
    note:
      `handled ${Math.round(summarize(r.rateWithout).median)} msg/s without, ${Math.round(summarize(r.rateWith).median)} msg/s with the dashboards open (median; the producer asks for ${rate}/s); ` +
      `raw difference ${round(raw.median, 2)} % of a core (${round(summarize(r.cpuWithout).median, 2)} % without, ${round(summarize(r.cpuWith).median, 2)} % with); ` +
      `on the idle runtime the 3 dashboards take ${round(r.idleWith - r.idleWithout, 2)} % of a core (${round(r.idleWithout, 2)} % without, ${round(r.idleWith, 2)} % with)`,
  };
  notes.push(`Dashboard: ${rows.dashboard_cpu.note}.`);
}

if (runs('delay')) {
  log(`delayed publish: 1,000 messages with delays of 1–10 s through the delay ladder (${RUNS} runs)`);
  const r = await measureDelay(1_000, RUNS, log);
  // Never early in any run; on time like the other rows: by the median of the runs.
  const within = r.every((x) => x.min >= 0) && summarize(r.map((x) => x.max)).median <= 500;
  const row = (what: string, pick: (x: (typeof r)[number]) => number): Row => ({
    what,
    unit: 'ms late',
    figure: summarize(r.map(pick)),
    baseline: null,
    ratio: null,
    target: 'never early, ≤ 500 ms late',
    met: within,
  });
  rows.delay_p50 = row('delayed publish, 1,000 msgs of 1–10 s: lateness p50', (x) => x.p50);
  rows.delay_p99 = row('delayed publish: lateness p99', (x) => x.p99);
  rows.delay_max = row('delayed publish: lateness max', (x) => x.max);
  rows.delay_max.note = `earliest arrival per run (negative would be early): ${r.map((x) => x.min).join(', ')} ms after due`;
}

const table = formatTable(rows);
log(`\n${table}\n`);
for (const n of notes) log(`note: ${n}`);

const machine = {
  cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
  memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
  os: `${platform()} ${release()}`,
  node: process.version,
  ...(await brokerOverview().catch(() => ({ rabbitmq: 'unknown', erlang: 'unknown' }))),
  redis: /redis_version:(\S+)/.exec(spawnSync('redis-cli', ['INFO', 'server'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown',
};
const date = new Date().toISOString();
log(`machine: ${JSON.stringify(machine)}; ${Math.round((Date.now() - began) / 1000)} s`);

if (!only) {
  await writeFile(join(repoRoot, 'bench', 'results.json'), `${JSON.stringify({ date, machine, runs: RUNS, rows: toJson(rows), notes }, null, 2)}\n`);
  const md = [
    '# Warren benchmark results',
    '',
    `Date: ${date}  `,
    `Machine: ${machine.cpu}, ${machine.memory} RAM, ${machine.os}; Node ${machine.node}; RabbitMQ ${machine.rabbitmq} (Erlang ${machine.erlang}) on the same machine; Redis ${machine.redis}.  `,
    `Each figure is the median of ${RUNS} runs (the no-op row: ${RUNS + (RUNS % 2)}, each consumer draining first in half of them), min–max in brackets; each ratio is the median of the per-run ratios against a baseline measured in the same run. Produced by \`npm run bench\`.`,
    '',
    table,
    '',
    ...Object.entries(rows).flatMap(([k, r]) => (r.note ? [`- ${k}: ${r.note}`] : [])),
    '',
    '## Closing note',
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  const soak = await keptSoakSection(join(repoRoot, 'bench', 'results.md'));
  await writeFile(join(repoRoot, 'bench', 'results.md'), soak ? `${md}\n${soak}` : md);
}

if (only && env.WARREN_BENCH_MERGE === '1') {
  // A part measured on its own (the cluster rows start their own cluster): merged, the rest kept.
  const jsonFile = join(repoRoot, 'bench', 'results.json');
  const previous = JSON.parse(await readFile(jsonFile, 'utf8')) as { rows: Record<string, unknown>; separately?: Record<string, unknown> };
  previous.rows = { ...previous.rows, ...toJson(rows) };
  previous.separately = { ...previous.separately, [only.join(',')]: { date, machine, runs: RUNS } };
  await writeFile(jsonFile, `${JSON.stringify(previous, null, 2)}\n`);
  const mdFile = join(repoRoot, 'bench', 'results.md');
  const heading = `## Measured on their own: WARREN_BENCH_ONLY=${only.join(',')}`;
  const md = await readFile(mdFile, 'utf8');
  const kept = md.split(/\n(?=## )/).filter((part) => !part.startsWith(heading));
  const section = [
    heading,
    '',
    `Date: ${date}; ${RUNS} runs; machine as above. Produced by \`WARREN_BENCH_ONLY=${only.join(',')} WARREN_BENCH_MERGE=1 npm run bench\`.`,
    '',
    table,
    '',
    ...Object.entries(rows).flatMap(([k, r]) => (r.note ? [`- ${k}: ${r.note}`] : [])),
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  await writeFile(mdFile, [...kept.map((p) => p.replace(/\n+$/, '\n')), section].join('\n'));
}
