/**
 * Warren on a real 3-node RabbitMQ cluster (test/helpers/rabbit-cluster.ts, one cluster for this
 * file, one vhost per test): AMQP_URL lists the three nodes; nodes are killed with `kill -9` or
 * restarted one after the other while messages flow. What a user would notice is asserted: no message
 * lost, order kept, outputs all there, the CLI still answering. Duplicates are allowed (at-least-once)
 * and counted; the time from a node kill to consuming again is reported (the bench holds the target).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishMessages } from '../../runtime/cli/publish';
import { startRabbitCluster, type ClusterNode, type RabbitCluster } from '../helpers/rabbit-cluster';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { range } from '../helpers/chaos';

/** Appends `<id> <attempt>` for every message it handles; `reject` dead-letters until the `fixed` file exists; `fail` fails attempt 1. */
const recordingHandler = `
import { appendFileSync, existsSync } from 'node:fs';
import { Reject } from 'warren';
import type { Handler } from 'warren';
const handler: Handler<{ id?: number | string; reject?: boolean; fail?: boolean; ms?: number } | string> = async (m, ctx) => {
  const body = typeof m === 'object' && m !== null ? m : {};
  if (body.ms) await new Promise((r) => setTimeout(r, body.ms));
  if (body.reject && !existsSync(process.env.WARREN_TEST_FIXED!)) throw new Reject('not yet');
  if (body.fail && ctx.attempt === 1) throw new Error('first attempt fails');
  appendFileSync(process.env.WARREN_TEST_RECORD!, (body.id ?? ctx.messageId) + ' ' + ctx.attempt + '\\n');
  return { id: body.id ?? ctx.messageId };
};
export default handler;
`;

/** Generous: a node kill or restart on a busy shared machine takes long; the assertions are on losses, not time. */
const TEST_TIMEOUT = 300_000;

let cluster: RabbitCluster;
let scratch: string;
let vhostNo = 0;
let warren: RunningWarren | undefined;
let project: Project | undefined;

beforeAll(async () => {
  cluster = await startRabbitCluster();
  scratch = await mkdtemp(join(tmpdir(), 'warren-cluster-test-'));
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
  await rm(scratch, { recursive: true, force: true });
}, 120_000);

afterEach(async () => {
  const code = await warren?.stop();
  await project?.remove();
  warren = project = undefined;
  // Every node back before the next test, whatever this one did to them.
  for (const node of cluster.nodes) if (node.down) await node.start();
  expect(code ?? 0).toBe(0);
}, 120_000);

interface Setup {
  url: string;
  vhost: string;
  record: string;
  fixed: string;
}

async function setUp(queuesYaml: string): Promise<Setup> {
  const vhost = `cluster-${++vhostNo}`;
  await cluster.addVhost(vhost);
  const record = join(scratch, `${vhost}.log`);
  const fixed = join(scratch, `${vhost}.fixed`);
  project = await createProject(queuesYaml, { [/functions:\s*\n\s+([\w-]+):/.exec(queuesYaml)![1]!]: recordingHandler });
  const url = cluster.urlFor(vhost);
  warren = await startWarren(project.dir, url, { env: { WARREN_TEST_RECORD: record, WARREN_TEST_FIXED: fixed, WARREN_LOG_LEVEL: 'info' }, timeoutMs: 90_000 });
  return { url, vhost, record, fixed };
}

async function recorded(file: string): Promise<Array<{ id: string; attempt: number }>> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', attempt = '0'] = line.split(' ');
      return { id, attempt: Number(attempt) };
    });
}

/** A connection to a node that is up (the test's own publishing and reading). */
function liveUrl(vhost: string, avoid?: ClusterNode): string {
  const node = cluster.nodes.find((n) => !n.down && n !== avoid)!;
  return `${node.url}/${encodeURIComponent(vhost)}`;
}

async function publishIds(url: string, queue: string, ids: readonly number[], extra: Record<string, unknown> = {}): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    for (const id of ids) {
      if (!ch.sendToQueue(queue, Buffer.from(JSON.stringify({ id, ...extra })), { contentType: 'application/json', persistent: true })) {
        await new Promise((r) => ch.once('drain', r));
      }
    }
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** Waits until `count` lines are recorded (or `timeoutMs` passed) and returns the time it took. */
async function recordedAtLeast(file: string, count: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await recorded(file)).length >= count, timeoutMs, 50);
}

async function functionsView(
  w: RunningWarren,
): Promise<{ ready: boolean; functions: Array<{ name: string; nodes: Array<{ replica: number; node: string | null }> }> }> {
  const res = await fetch(`http://127.0.0.1:${w.adminPort}/functions`);
  return (await res.json()) as never;
}

describe('Warren on a 3-node RabbitMQ cluster', () => {
  it(
    'loses none of 10,000 messages when the node leading the queue is killed mid-stream, and consumes again at once',
    async () => {
      const total = 10_000;
      const s = await setUp(`functions:\n  work: { replicas: 2, prefetch: 50 }\n`);
      // Replicas begin at different nodes, and /functions says which (no credentials).
      const view = await functionsView(warren!);
      const nodes = view.functions.find((f) => f.name === 'work')!.nodes.map((n) => n.node);
      expect(nodes).toHaveLength(2);
      expect(new Set(nodes).size).toBe(2);
      expect(JSON.stringify(view)).not.toContain('guest:guest');

      const leader = await cluster.leaderOf(s.vhost, 'work');
      await publishIds(liveUrl(s.vhost, leader), 'work', range(total));
      await recordedAtLeast(s.record, total / 4);
      const before = (await recorded(s.record)).length;
      const killedAt = Date.now();
      await leader.kill();
      // Consuming again: new lines appear after the kill.
      await waitFor(async () => (await recorded(s.record)).length > before + 100, 60_000, 20);
      const resumedMs = Date.now() - killedAt;
      await waitFor(async () => new Set((await recorded(s.record)).map((r) => r.id)).size === total, 120_000, 200);

      const lines = await recorded(s.record);
      const unique = new Set(lines.map((r) => r.id));
      expect(unique.size).toBe(total);
      const movedReplica = nodes.includes(`127.0.0.1:${leader.port}`) ? 'a replica failed over from the killed node' : 'no replica was on the killed node';
      console.log(
        `cluster: node kill under load: ${total} handled, 0 lost, ${lines.length - unique.size} duplicates, consuming again ${resumedMs} ms after the kill (${movedReplica})`,
      );
      expect(warren!.logs.map((l) => JSON.stringify(l)).join('\n')).not.toContain('guest:guest');
      // What a replica held on the killed node comes back as fresh messages, not suspects run alone.
      expect(warren!.logs.filter((l) => /^running a message alone|messages together, apart/.test(String(l.msg)))).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'runs what a replica held on a killed node again as fresh messages, not as suspects run alone one by one',
    async () => {
      const total = 400;
      const s = await setUp(`functions:\n  held: { replicas: 2, prefetch: 25 }\n`);
      const view = await functionsView(warren!);
      const first = view.functions.find((f) => f.name === 'held')!.nodes[0]!.node;
      const victim = cluster.nodes.find((n) => `127.0.0.1:${n.port}` === first)!;
      // 300 ms each: a replica holds its 25 when its node goes.
      await publishIds(liveUrl(s.vhost, victim), 'held', range(total), { ms: 300 });
      await recordedAtLeast(s.record, 50);
      await victim.kill();
      await warren!.waitForLog((l) => String(l.msg).includes('they run again as fresh ones'), 30_000);
      await waitFor(async () => new Set((await recorded(s.record)).map((r) => r.id)).size === total, 120_000, 200);
      const conn = await amqplib.connect(liveUrl(s.vhost, victim));
      try {
        const ch = await conn.createChannel();
        await waitFor(async () => ((await ch.checkQueue('held')).messageCount === 0 ? true : undefined), 60_000, 200);
      } finally {
        await conn.close();
      }
      // Before, the 25 it held ran alone one by one. A copy that reached the other replica before the
      // killed one's word may wait aside once, then runs as a fresh message.
      const alone = warren!.logs.filter((l) => /^running a message alone|messages together, apart/.test(String(l.msg)));
      expect(alone.map((l) => [l['messageId'], l['replica']])).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'loses nothing of a steady stream through a rolling restart of all three nodes, published with warren publish',
    async () => {
      const s = await setUp(`functions:\n  stream: { replicas: 2, prefetch: 10 }\n`);
      let batch = 0;
      let publishing = true;
      let streamError: unknown = null;
      const published: string[] = [];
      // The stream goes through Warren's own publisher: the whole list, so it too fails over.
      const stream = (async () => {
        while (publishing) {
          const prefix = `b${batch++}`;
          await publishMessages(s.url, { exchange: '', routingKey: 'stream' }, Buffer.from('{}'), {
            count: 20,
            headers: {},
            contentType: 'application/json',
            messageIdPrefix: prefix,
          });
          for (let i = 0; i < 20; i++) published.push(`${prefix}-${i}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      })().catch((err: unknown) => {
        streamError = err;
      });
      const began = Date.now();
      const step = (what: string) => console.log(`cluster: rolling restart +${Date.now() - began} ms: ${what} (${published.length} published)`);
      for (const node of cluster.nodes) {
        await recordedAtLeast(s.record, published.length / 2 + 20);
        step(`stopping ${node.name}`);
        await node.stop();
        await new Promise((r) => setTimeout(r, 1_000));
        step(`starting ${node.name}`);
        await node.start();
      }
      step('all restarted');
      await new Promise((r) => setTimeout(r, 1_000));
      publishing = false;
      await stream;
      expect(streamError).toBeNull();
      await waitFor(
        async () => {
          const seen = new Set((await recorded(s.record)).map((r) => r.id));
          return published.every((id) => seen.has(id));
        },
        90_000,
        200,
      );
      const lines = await recorded(s.record);
      const unique = new Set(lines.map((r) => r.id));
      expect(published.filter((id) => !unique.has(id))).toEqual([]);
      console.log(`cluster: rolling restart: ${published.length} published in a steady stream, 0 lost, ${lines.length - unique.size} duplicates`);
    },
    TEST_TIMEOUT,
  );

  it(
    'keeps an ordered function in order across a leader failover',
    async () => {
      const total = 1_500;
      const s = await setUp(`functions:\n  ordered: { ordered: true, replicas: 2 }\n`);
      const leader = await cluster.leaderOf(s.vhost, 'ordered');
      await publishIds(liveUrl(s.vhost, leader), 'ordered', range(total));
      await recordedAtLeast(s.record, total / 4);
      await leader.kill();
      await waitFor(async () => new Set((await recorded(s.record)).map((r) => r.id)).size === total, 120_000, 200);
      // First sightings in order: a message may run twice (redelivered after the loss), never overtake.
      const firstSeen: number[] = [];
      const seen = new Set<string>();
      for (const { id } of await recorded(s.record))
        if (!seen.has(id)) {
          seen.add(id);
          firstSeen.push(Number(id));
        }
      expect(firstSeen).toEqual(range(total));
    },
    TEST_TIMEOUT,
  );

  it(
    "publishes every input's output to its target queue across a node loss",
    async () => {
      const total = 3_000;
      const s = await setUp(
        [
          'exchanges:',
          '  out: { type: direct }',
          'queues:',
          '  relay-out: {}',
          'bindings:',
          '  - { exchange: out, queue: relay-out, routingKey: done }',
          'functions:',
          '  relay: { replicas: 2, prefetch: 20, output: { exchange: out, routingKey: done } }',
          '',
        ].join('\n'),
      );
      // The node the replicas began on: the one whose loss makes their publishes fail over.
      const first = functionsNode(await functionsView(warren!), 'relay');
      const victim = cluster.nodes.find((n) => first?.endsWith(`:${n.port}`))!;
      expect(victim).toBeDefined();
      await publishIds(liveUrl(s.vhost, victim), 'relay', range(total));
      await recordedAtLeast(s.record, total / 4);
      await victim.kill();
      await waitFor(async () => new Set((await recorded(s.record)).map((r) => r.id)).size === total, 120_000, 200);
      // Every input acked means its output was confirmed first: all of them are in relay-out.
      const outputs = new Set<number>();
      const conn = await amqplib.connect(liveUrl(s.vhost, victim));
      try {
        const ch = await conn.createChannel();
        for (;;) {
          const msg = await ch.get('relay-out', { noAck: true });
          if (msg === false) break;
          outputs.add((JSON.parse(msg.content.toString()) as { id: number }).id);
        }
        await ch.close();
      } finally {
        await conn.close();
      }
      expect(range(total).filter((id) => !outputs.has(id))).toEqual([]);
    },
    TEST_TIMEOUT,
  );

  it(
    'retries a message across a node loss; warren status and dlq list/replay work with a node down',
    async () => {
      const s = await setUp(`functions:\n  flaky: { retry: { attempts: 2, delay: 4s } }\n`);
      await publishIds(liveUrl(s.vhost), 'flaky', range(5), { fail: true });
      await publishIds(liveUrl(s.vhost), 'flaky', range(5, 100), { reject: true });
      const dlqEnv = { AMQP_URL: s.url, WARREN_ADMIN_PORT: String(warren!.adminPort) };
      const countIn = async (queue: string) => {
        const conn = await amqplib.connect(liveUrl(s.vhost));
        try {
          const ch = await conn.createChannel();
          return (await ch.checkQueue(queue)).messageCount;
        } finally {
          await conn.close();
        }
      };
      // Five wait out their delay in the retry queue, five are dead-lettered.
      await waitFor(async () => (await countIn('flaky.retry.4s')) === 5 && (await countIn('flaky.dead')) === 5, 30_000, 100);
      const leader = await cluster.leaderOf(s.vhost, 'flaky.retry.4s');
      await leader.kill();
      // The retries come back from the replicated retry queue and succeed on attempt 2.
      await waitFor(async () => (await recorded(s.record)).filter((r) => r.attempt === 2).length === 5, 60_000, 100);

      const status = await runWarren(['status'], dlqEnv);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/flaky\s+\S+\s+1\/1/);
      const list = await runWarren(['dlq', 'list', 'flaky', '--dir', project!.dir], dlqEnv);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain('not yet');
      await writeFile(s.fixed, '');
      const replay = await runWarren(['dlq', 'replay', 'flaky', '--dir', project!.dir], dlqEnv);
      expect(replay.code).toBe(0);
      await waitFor(async () => (await recorded(s.record)).filter((r) => Number(r.id) >= 100).length === 5, 30_000, 100);
      expect(await countIn('flaky.dead')).toBe(0);
    },
    TEST_TIMEOUT,
  );
});

function functionsNode(view: Awaited<ReturnType<typeof functionsView>>, fn: string): string | null {
  return view.functions.find((f) => f.name === fn)?.nodes[0]?.node ?? null;
}
