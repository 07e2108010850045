/**
 * Issue: a broker that is down at start is waited for (backoff, /readyz 503, no crash loop); a broker
 * restarted mid-stream is reconnected to, every replica resubscribes, and nothing is lost (duplicates
 * are allowed and counted). Runs against a private RabbitMQ node so the rest of the suite is untouched.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { queueInfo } from '../helpers/broker';
import { startRabbitNode, type RabbitNode } from '../helpers/rabbit-node';
import { createProject, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { publishMany, range } from '../helpers/chaos';

/** Records each handled id to a file: what a handler did survives the broker going away. */
const recordingHandler = `
import { appendFileSync } from 'node:fs';
import type { Handler } from 'warren';
const handler: Handler<{ id: number; ms?: number }> = async (m) => {
  if (m.ms) await new Promise((r) => setTimeout(r, m.ms));
  appendFileSync(process.env.WARREN_TEST_RECORD!, m.id + '\\n');
};
export default handler;
`;

/**
 * A TCP proxy to the node: forwards the first `forwarded` connections; the later ones are accepted
 * and never answered (a broker out of file descriptors, a node going down) until `openAll()`.
 * `freeze()` stops passing on what the broker sends on the connections open now, and `cut()` ends
 * them: what the broker sent meanwhile never reaches the client (frames on the wire when a node goes).
 */
async function proxyTo(port: number, forwarded: number) {
  const sockets = new Set<Socket>();
  const links: Array<{ client: Socket; upstream: Socket }> = [];
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s)).on('error', () => undefined);
    return s;
  };
  let open = false;
  let accepted = 0;
  const server = createServer((client) => {
    track(client);
    if (!open && accepted++ >= forwarded) return;
    const upstream = track(connect(port, '127.0.0.1'));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    links.push({ client, upstream });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    openAll: () => {
      open = true;
    },
    freeze: () => {
      for (const { client, upstream } of links) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    cut: () => {
      for (const { client, upstream } of links.splice(0)) {
        client.destroy();
        upstream.destroy();
      }
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let node: RabbitNode;
let scratch: string;
let project: Project | undefined;
let warren: RunningWarren | undefined;

beforeAll(async () => {
  node = await startRabbitNode();
  scratch = await mkdtemp(join(tmpdir(), 'warren-chaos-broker-'));
}, 90_000);

afterAll(async () => {
  await node?.stop();
  await rm(scratch, { recursive: true, force: true });
});

afterEach(async () => {
  const code = await warren?.stop();
  await project?.remove();
  warren = project = undefined;
  expect(code ?? 0).toBe(0);
});

async function recorded(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

async function readyz(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
  return res?.status ?? 0;
}

describe('the broker goes away', () => {
  it('waits for a broker that is down at start, with /readyz 503 and no crash loop', async () => {
    const record = join(scratch, 'late.txt');
    project = await createProject('functions:\n  late: { replicas: 2 }\n', { late: recordingHandler });
    await node.stopApp();
    try {
      warren = await startWarren(project.dir, node.url, { waitReady: false, env: { WARREN_TEST_RECORD: record } });
      const w = warren;
      await w.waitForLog((l) => String(l.msg).includes('retrying'), 10_000);
      expect(await waitFor(async () => ((await readyz(w.adminPort)) === 503 ? 503 : undefined), 5_000)).toBe(503);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(w.child.exitCode).toBeNull();
    } finally {
      await node.startApp();
    }
    const w = warren;
    await w.waitForLog((l) => l.msg === 'warren is running', 40_000);
    expect(await waitFor(async () => ((await readyz(w.adminPort)) === 200 ? 200 : undefined), 5_000)).toBe(200);
    await publishMany(
      node.url,
      'late',
      range(100).map((id) => ({ id })),
    );
    await waitFor(async () => (await recorded(record)).length >= 100, 10_000, 100);
    expect(new Set(await recorded(record)).size).toBe(100);
  }, 90_000);

  it('waits, without hanging or crashing, for a broker that answers the preflight and then no connection', async () => {
    project = await createProject('functions:\n  mute: { replicas: 1 }\n', { mute: recordingHandler });
    const proxy = await proxyTo(node.port, 1);
    try {
      warren = await startWarren(project.dir, `amqp://guest:guest@127.0.0.1:${proxy.port}`, {
        waitReady: false,
        env: { WARREN_TEST_RECORD: join(scratch, 'mute.txt') },
      });
      const w = warren;
      // The preflight went through; rascal's connection is never answered: bounded, then retried.
      const retrying = await w.waitForLog((l) => String(l.msg).includes('retrying'), 30_000);
      expect(String(retrying.msg)).toContain(`127.0.0.1:${proxy.port}`);
      expect(await readyz(w.adminPort)).toBe(503);
      expect(w.child.exitCode).toBeNull();
      proxy.openAll();
      await w.waitForLog((l) => l.msg === 'warren is running', 40_000);
      expect(await waitFor(async () => ((await readyz(w.adminPort)) === 200 ? 200 : undefined), 5_000)).toBe(200);
      expect(await w.stop('SIGTERM')).toBe(0);
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it('exits 0 on SIGTERM while the broker is down, at start and mid-stream, and loses nothing', async () => {
    const record = join(scratch, 'outage.txt');
    project = await createProject('functions:\n  outage: { replicas: 2, timeout: 2s }\n', { outage: recordingHandler });
    const env = { WARREN_TEST_RECORD: record };
    try {
      await node.stopApp();
      const waiting = await startWarren(project.dir, node.url, { waitReady: false, env });
      await waiting.waitForLog((l) => String(l.msg).includes('retrying'), 10_000);
      expect(await waiting.stop('SIGTERM')).toBe(0);
      // Its replicas booted while it waited, and end without ever having consumed: no error said.
      expect(waiting.logs.filter((l) => Number(l.level) >= 50).map((l) => l.msg)).toEqual([]);
    } finally {
      await node.startApp();
    }

    warren = await startWarren(project.dir, node.url, { env });
    await publishMany(
      node.url,
      'outage',
      range(1_000).map((id) => ({ id, ms: 5 })),
    );
    await waitFor(async () => (await recorded(record)).length >= 100, 10_000, 20);
    await node.stopApp();
    expect(new Set(await recorded(record)).size).toBeLessThan(1_000);
    let stoppedAt = 0;
    try {
      await warren.waitForLog((l) => String(l.msg).startsWith('lost the broker connection'), 5_000);
      stoppedAt = Date.now();
      expect(await warren.stop('SIGTERM')).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    } finally {
      await node.startApp();
    }
    warren = await startWarren(project.dir, node.url, { env });
    await waitFor(async () => new Set(await recorded(record)).size === 1_000, 20_000, 100);
  }, 90_000);

  it('loses none of 10,000 messages when the broker restarts mid-stream', async () => {
    const record = join(scratch, 'stream.txt');
    // 2 replicas x prefetch 5 x 5 ms: about 2,000 messages a second, so the stream outlasts the restart.
    project = await createProject('functions:\n  stream: { replicas: 2, prefetch: 5 }\n', { stream: recordingHandler });
    warren = await startWarren(project.dir, node.url, { env: { WARREN_TEST_RECORD: record } });
    const w = warren;
    const total = 10_000;
    await publishMany(
      node.url,
      'stream',
      range(total).map((id) => ({ id, ms: 5 })),
    );
    await waitFor(async () => (await recorded(record)).length >= 1_000, 20_000, 50);

    await node.stopApp();
    const beforeRestart = new Set(await recorded(record)).size;
    const down = await waitFor(async () => ((await readyz(w.adminPort)) === 503 ? 503 : undefined), 5_000).catch(() => 200);
    await new Promise((r) => setTimeout(r, 1_000));
    await node.startApp();

    await waitFor(async () => new Set(await recorded(record)).size === total, 45_000, 200);
    const ids = await recorded(record);
    const duplicates = ids.length - new Set(ids).size;
    // At-least-once: messages in flight when the connection dropped may run twice; the test reports how many.
    process.stdout.write(`broker restart after ${beforeRestart} of ${total}: all handled, ${duplicates} duplicates, /readyz during the outage: ${down}\n`);
    expect(beforeRestart).toBeLessThan(total); // the restart really was mid-stream
    expect(duplicates).toBeLessThanOrEqual(2 * 5); // at most the prefetch of every replica
    expect(down).toBe(503);
    // Both replicas resubscribed.
    await waitFor(async () => ((await queueInfo(node.url, 'stream')).consumerCount === 2 ? true : undefined), 10_000);
    expect((await queueInfo(node.url, 'stream')).messageCount).toBe(0);
    expect(w.logs.filter((l) => String(l.msg).startsWith('replica died'))).toHaveLength(0);
  }, 90_000);

  it('tries the broker again at least every 5 s while it stays down, then consumes again', async () => {
    project = await createProject('functions:\n  patient: { replicas: 1 }\n', { patient: recordingHandler });
    warren = await startWarren(project.dir, node.url, { env: { WARREN_TEST_RECORD: join(scratch, 'patient.txt') } });
    const w = warren;
    await node.stopApp();
    try {
      // Waits of 2 s and 4 s, then 5 s (not 8 s): a broker back after 8 s is not left unused until 15 s.
      await w.waitForLog((l) => String(l.msg).startsWith('reconnect failed: no broker answers at') && Number(l['retryInMs']) >= 5_000, 15_000);
    } finally {
      await node.startApp();
    }
    await w.waitForLog((l) => l.msg === 'reconnected and consuming again', 15_000);
    // Said in words once (a warning), then at debug level while the words stay the same.
    const failed = w.logs.filter((l) => String(l.msg).startsWith('reconnect failed: no broker answers at'));
    expect(failed.filter((l) => l.level === 40)).toHaveLength(1);
    const waits = failed.map((l) => Number(l['retryInMs']));
    expect(waits.slice(0, 3)).toEqual([2_000, 4_000, 5_000]);
    expect(Math.max(...waits)).toBe(5_000);
    const keeper = w.logs
      .filter((l) => String(l.msg).startsWith('delayed delivery and schedules: '))
      .flatMap((l) => (l['retryInMs'] === undefined ? [] : [Number(l['retryInMs'])]));
    expect(Math.max(...keeper)).toBeLessThanOrEqual(5_000);
  }, 60_000);

  it('runs the messages in flight at the restart again as fresh ones, not one by one as suspects', async () => {
    const record = join(scratch, 'inflight.txt');
    // 2 replicas x prefetch 25 x 400 ms: 50 messages in hand at any time, so 50 come back after the restart.
    project = await createProject('functions:\n  inflight: { replicas: 2, prefetch: 25 }\n', { inflight: recordingHandler });
    warren = await startWarren(project.dir, node.url, { env: { WARREN_TEST_RECORD: record } });
    const w = warren;
    const total = 300;
    // Half with a message id; half without one and all with the same body (as an output's often are):
    // those are known again by their body, each copy held clearing one delivery.
    const conn = await amqplib.connect(node.url);
    const ch = await conn.createConfirmChannel();
    for (const id of range(total)) {
      const body = id % 2 ? { id: -1, ms: 400 } : { id, ms: 400 };
      ch.sendToQueue('inflight', Buffer.from(JSON.stringify(body)), { contentType: 'application/json', ...(id % 2 ? {} : { messageId: `m-${id}` }) });
    }
    await ch.waitForConfirms();
    await conn.close();
    await waitFor(async () => ((await recorded(record)).length >= 60 ? true : undefined), 20_000, 50);

    await node.stopApp();
    await w.waitForLog((l) => String(l.msg).startsWith('lost the broker connection'), 5_000);
    await node.startApp();
    const allRecorded = async () => {
      const ids = await recorded(record);
      return new Set(ids).size === total / 2 + 1 && ids.filter((id) => id === -1).length >= total / 2;
    };
    await waitFor(async () => ((await allRecorded()) ? true : undefined), 60_000, 200);

    const said = (text: string) => w.logs.filter((l) => String(l.msg).includes(text));
    // Every id was recorded before the restart's redeliveries ran (a handler that finished during the
    // outage could not ack): wait for the queue to empty, then look at how they ran.
    await waitFor(async () => ((await queueInfo(node.url, 'inflight')).messageCount === 0 ? true : undefined), 30_000, 200);
    // Before, the 50 waited aside and ran alone one by one, about one a second. The deliveries on
    // their way when the broker stopped, which no replica saw, come back the same way and run fresh too.
    const suspects = said('waits aside').concat(said('running a message alone'), said('messages together, apart from fresh ones'));
    expect(suspects.map((l) => [l.msg, l['messageId'], l['replica']])).toEqual([]);
    // Each replica cleared what it held.
    expect(said('they run again as fresh ones').length).toBeGreaterThanOrEqual(2);
    expect(said('replica died')).toEqual([]);
  }, 120_000);

  it('runs the deliveries a lost connection took with it, which the replica never saw, as fresh messages', async () => {
    const record = join(scratch, 'unseen.txt');
    project = await createProject('functions:\n  unseen: { replicas: 1, prefetch: 20 }\n', { unseen: recordingHandler });
    const proxy = await proxyTo(node.port, Infinity);
    try {
      warren = await startWarren(project.dir, `amqp://guest:guest@127.0.0.1:${proxy.port}`, { env: { WARREN_TEST_RECORD: record } });
      const w = warren;
      // The broker delivers these 20 to the replica, but the frames stop at the proxy; then the connection goes.
      proxy.freeze();
      await publishMany(
        node.url,
        'unseen',
        range(20).map((id) => ({ id })),
      );
      await waitFor(async () => ((await queueInfo(node.url, 'unseen')).messageCount === 0 ? true : undefined), 10_000, 50);
      proxy.cut();
      await w.waitForLog((l) => String(l.msg).startsWith('reconnected and consuming again'), 30_000);
      await waitFor(async () => ((await recorded(record)).length >= 20 ? true : undefined), 20_000, 100);
      await new Promise((r) => setTimeout(r, 500));
      // Each ran once...
      expect((await recorded(record)).sort((a, b) => a - b)).toEqual(range(20));
      // ...handed back by the broker (the replica never saw its first delivery), as a fresh message:
      // before, all 20 waited aside and then ran alone one by one.
      const fresh = w.logs.filter((l) => String(l.msg).startsWith('handed back for the first time just after a lost connection'));
      expect(fresh.map((l) => l['messageId']).sort()).toEqual(
        range(20)
          .map((i) => `m-${i}`)
          .sort(),
      );
      const suspects = w.logs.filter((l) => /waits aside|running a message alone|messages together, apart/.test(String(l.msg)));
      expect(suspects.map((l) => [l.msg, l['messageId']])).toEqual([]);
    } finally {
      // Stopped while the proxy still stands: the runtime ends with its connections, as it would.
      const code = await warren?.stop();
      warren = undefined;
      await proxy.close();
      expect(code ?? 0).toBe(0);
    }
  }, 90_000);
});
