/**
 * SPEC §9's cluster row, on a private 3-node RabbitMQ cluster started for the bench
 * (test/helpers/rabbit-cluster.ts): (1) a no-op function draining a quorum queue against a bare
 * amqplib consumer connected to the same node, and (2) the time from `kill -9` of a node to every
 * function consuming again, under a steady stream, with the messages lost counted.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { startRabbitCluster, type ClusterNode, type RabbitCluster } from '../../test/helpers/rabbit-cluster';
import { drainBaseline, publishBaseline } from '../broker';
import { sleep } from '../stats';
import { createProject, startWarren, type RunningWarren } from '../warren';

export interface ClusterRuns {
  warren: number[];
  amqplib: number[];
  /** per kill: ms from the kill until the last function to resume handled a message again */
  resumeMs: number[];
  lost: number;
  duplicated: number;
  published: number;
}

const FUNCTIONS = ['alpha', 'beta', 'gamma'];

export async function measureCluster(count: number, runs: number, log: (line: string) => void): Promise<ClusterRuns> {
  log('  starting a private 3-node RabbitMQ cluster');
  const cluster = await startRabbitCluster();
  const out: ClusterRuns = { warren: [], amqplib: [], resumeMs: [], lost: 0, duplicated: 0, published: 0 };
  try {
    await drainRows(cluster, count, runs, out, log);
    await killRows(cluster, runs, out, log);
  } finally {
    await cluster.stop();
  }
  return out;
}

async function drainRows(cluster: RabbitCluster, count: number, runs: number, out: ClusterRuns, log: (line: string) => void): Promise<void> {
  await cluster.addVhost('drain');
  const url = cluster.urlFor('drain');
  const project = await createProject('functions:\n  noop: { replicas: 1, prefetch: 100 }\n', { noop: 'export default async () => undefined;\n' });
  try {
    await (await startWarren(project.dir, url)).stop();
    for (let run = 1; run <= runs; run++) {
      // Warren first: its replica says which node it consumes from, and the baseline uses that node too.
      const nodeUrl = (node: string) => `amqp://guest:guest@${node}/drain`;
      const leader = await cluster.leaderOf('drain', 'noop');
      await publishBaseline(`${leader.url}/drain`, 'noop', count);
      const w = await startWarren(project.dir, url, { waitReady: false });
      let node: string;
      let rate: number;
      try {
        const consuming = await w.waitForLog((l) => l.msg === 'consuming', 60_000);
        node = String(consuming['node']);
        rate = await drained(w, 'noop', count, consuming.time);
      } finally {
        await w.stop();
      }
      await publishBaseline(`${leader.url}/drain`, 'noop', count);
      const amq = await drainBaseline(nodeUrl(node), 'noop', count, { prefetch: 100, consumers: 1, workMs: 0 });
      out.warren.push(rate);
      out.amqplib.push(amq);
      log(
        `  cluster no-op run ${run}/${runs} (consuming from ${node}, queue leader ${leader.port}): warren ${Math.round(rate)} msg/s, amqplib ${Math.round(amq)} msg/s`,
      );
    }
  } finally {
    await project.remove();
  }
}

/** Until /metrics counts `count` acks; msg/s from `since`. */
async function drained(w: RunningWarren, fn: string, count: number, since: number): Promise<number> {
  for (;;) {
    const acked = await w.acked(fn).catch(() => 0);
    if (acked >= count) return count / ((Date.now() - since) / 1000);
    await sleep(20);
  }
}

async function killRows(cluster: RabbitCluster, runs: number, out: ClusterRuns, log: (line: string) => void): Promise<void> {
  await cluster.addVhost('kill');
  const url = cluster.urlFor('kill');
  const scratch = await mkdtemp(join(tmpdir(), 'warren-bench-cluster-'));
  const record = join(scratch, 'handled');
  const handler = `import { appendFileSync } from 'node:fs';\nexport default async (m: { id: string }) => { appendFileSync(process.env.WARREN_BENCH_RECORD!, m.id + '\\n'); };\n`;
  const yaml = 'functions:\n' + FUNCTIONS.map((f) => `  ${f}: { replicas: 1, prefetch: 10 }\n`).join('');
  const project = await createProject(yaml, Object.fromEntries(FUNCTIONS.map((f) => [f, handler])));
  const w = await startWarren(project.dir, url, { env: { WARREN_BENCH_RECORD: record } });
  const published = new Set<string>();
  try {
    for (let run = 1; run <= runs; run++) {
      // Each kill takes another node: the one the first function consumes from, then the next...
      const victim = cluster.nodes[(run - 1) % 3]!;
      const stream = steadyStream(cluster, victim, run, published);
      await sleep(1_500);
      const before = Object.fromEntries(await Promise.all(FUNCTIONS.map(async (f) => [f, await w.acked(f)] as const)));
      const killedAt = Date.now();
      await victim.kill();
      const resumed = await Promise.all(
        FUNCTIONS.map(async (f) => {
          for (;;) {
            if ((await w.acked(f).catch(() => 0)) > before[f]! + 5) return Date.now() - killedAt;
            if (Date.now() - killedAt > 60_000) return Infinity;
            await sleep(10);
          }
        }),
      );
      await sleep(1_000);
      await stream.stop();
      const slowest = Math.max(...resumed);
      out.resumeMs.push(slowest);
      log(
        `  node kill ${run}/${runs} (${victim.name}): every function consuming again after ${slowest} ms (${resumed.map((ms, i) => `${FUNCTIONS[i]} ${ms} ms`).join(', ')})`,
      );
      await victim.start();
    }
    // Every message published is handled (duplicates counted), then the runtime stops.
    const deadline = Date.now() + 60_000;
    let handled: string[] = [];
    while (Date.now() < deadline) {
      handled = (await readFile(record, 'utf8').catch(() => '')).split('\n').filter(Boolean);
      const seen = new Set(handled);
      if ([...published].every((id) => seen.has(id))) break;
      await sleep(200);
    }
    const seen = new Set(handled);
    out.published = published.size;
    out.lost = [...published].filter((id) => !seen.has(id)).length;
    out.duplicated = handled.length - seen.size;
    if (out.lost > 0) {
      // Where a message the handlers never saw might be: dead-lettered (a delivery limit), or still waiting in a retry queue.
      const lost = [...published].filter((id) => !seen.has(id));
      log(`  not handled within 60 s: ${lost.slice(0, 20).join(', ')}${lost.length > 20 ? ', …' : ''}`);
      const queues = await cluster
        .ctl('list_queues', '-p', 'kill', '--no-table-headers', 'name', 'messages')
        .catch((err: unknown) => `list_queues failed: ${String(err)}`);
      const holding = queues.split('\n').filter((line) => /\s[1-9]\d*\s*$/.test(line));
      log(`  queues still holding messages: ${holding.length ? holding.map((l) => l.trim().replace(/\s+/, ' = ')).join('; ') : 'none'}`);
      // What the runtime said about them (a move aside that failed, a requeue), and the reasons it gave.
      const said = w
        .output()
        .split('\n')
        .filter((l) => /"level":(40|50)/.test(l) && !/lost the broker connection|reconnect failed|connection error|channel error/.test(l));
      log(`  runtime warnings and errors (${said.length}), the first: ${said.slice(0, 12).join('\n    ') || 'none'}`);
      for (const line of holding) {
        const queue = line.trim().split(/\s+/)[0]!;
        if (queue.endsWith('.dead')) log(`  ${queue}: ${(await deadLetterReasons(cluster, 'kill', queue)).join('; ')}`);
      }
    }
  } finally {
    await w.stop();
    await project.remove();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Why the first few dead letters of `queue` were dead-lettered (their headers), left in the queue. */
async function deadLetterReasons(cluster: RabbitCluster, vhost: string, queue: string): Promise<string[]> {
  const node = cluster.nodes.find((n) => !n.down)!;
  const conn = await amqplib.connect(`${node.url}/${vhost}`);
  try {
    const ch = await conn.createChannel();
    const reasons: string[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await ch.get(queue, { noAck: false });
      if (!m) break;
      const h = m.properties.headers ?? {};
      reasons.push(`${m.content.toString()} ${String(h['x-warren-reason'])}: ${String(h['x-warren-error'])}`);
    }
    await ch.close(); // unacked: they go back to the queue
    return reasons;
  } finally {
    await conn.close();
  }
}

/** About 300 msg/s spread over the functions, published with confirms through a node that stays up. */
function steadyStream(cluster: RabbitCluster, avoid: ClusterNode, run: number, published: Set<string>): { stop(): Promise<void> } {
  let going = true;
  const node = cluster.nodes.find((n) => n !== avoid && !n.down)!;
  const done = (async () => {
    const conn = await amqplib.connect(`${node.url}/kill`);
    const ch = await conn.createConfirmChannel();
    let i = 0;
    while (going) {
      for (const f of FUNCTIONS) {
        const id = `${run}-${f}-${i}`;
        ch.sendToQueue(f, Buffer.from(JSON.stringify({ id })), { persistent: true, contentType: 'application/json' });
        published.add(id);
      }
      i++;
      if (i % 10 === 0) await ch.waitForConfirms();
      await sleep(10);
    }
    await ch.waitForConfirms();
    await conn.close();
  })();
  return {
    async stop() {
      going = false;
      await done;
    },
  };
}
