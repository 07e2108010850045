/**
 * Issue: several instances. Two `warren start` processes (as two pods or two machines would run them)
 * consume one function's queue as competing consumers. One is killed with SIGKILL mid-stream: its
 * unacked messages return to the queue and the survivor finishes them. Every message is handled at
 * least once; duplicates are allowed only for what the killed process held unacked.
 */
import { spawn } from 'node:child_process';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../runtime/config';
import { generateManifests, PROBE_SCRIPT } from '../../runtime/manifests';

const TOTAL = 2_000;
const REPLICAS = 2;
const PREFETCH = 10;

const queuesYaml = `
queues:
  results: { type: classic }
functions:
  work: { replicas: ${REPLICAS}, prefetch: ${PREFETCH}, timeout: 10s }
`;

// Reports every message it handled, and which process handled it, to the `results` queue.
const workHandler = `
import type { Handler } from 'warren';
const handler: Handler<{ id: number }> = async (message, ctx) => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  await ctx.publish('', 'results', { id: message.id, pid: process.pid });
};
export default handler;
`;

describe('several Warren instances on one queue', () => {
  let vhost: TestVhost;
  let project: Project;
  const instances: RunningWarren[] = [];
  const token = 'instances-test-token';

  beforeAll(async () => {
    vhost = await createTestVhost('warren-instances');
    project = await createProject(queuesYaml, { work: workHandler });
    // As in Kubernetes: the admin API beyond loopback, guarded by the token from the environment.
    const env = { WARREN_ADMIN_HOST: '0.0.0.0', WARREN_ADMIN_TOKEN: token, WARREN_LOG_LEVEL: 'info' };
    instances.push(await startWarren(project.dir, vhost.url, { env }));
    instances.push(await startWarren(project.dir, vhost.url, { env }));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map((w) => w.stop()));
    await project?.remove();
    await vhost?.cleanup();
  });

  it('share the queue as competing consumers; after one is killed mid-stream the other finishes every message', async () => {
    const [victim, survivor] = instances as [RunningWarren, RunningWarren];
    await waitFor(async () => (await queueInfo(vhost.url, 'work')).consumerCount === 2 * REPLICAS, 10_000);

    // Results are read as they arrive by a consumer of our own, closed before the vhost is checked.
    const handled: Array<{ id: number; pid: number }> = [];
    const reader = await amqplib.connect(vhost.url);
    let before = 0;
    try {
      const rch = await reader.createChannel();
      await rch.consume('results', (m) => m && handled.push(JSON.parse(m.content.toString()) as { id: number; pid: number }), { noAck: true });

      const conn = await amqplib.connect(vhost.url);
      const ch = await conn.createConfirmChannel();
      for (let id = 0; id < TOTAL; id++) {
        ch.publish('', 'work', Buffer.from(JSON.stringify({ id })), { persistent: true, contentType: 'application/json', messageId: `m-${id}` });
      }
      await ch.waitForConfirms();
      await conn.close();

      // Mid-stream: both processes have handled work, and much is still to do.
      await waitFor(() => handled.length >= 300 && new Set(handled.map((r) => r.pid)).size === 2, 30_000, 5);
      victim.child.kill('SIGKILL');
      before = new Set(handled.map((r) => r.id)).size;
      expect(before).toBeLessThan(TOTAL / 2);
      expect(await victim.exited).toBe(null);

      await waitFor(() => new Set(handled.map((r) => r.id)).size === TOTAL, 60_000, 100);
    } finally {
      await reader.close();
    }

    const counts = new Map<number, number>();
    for (const r of handled) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    const lost = Array.from({ length: TOTAL }, (_, id) => id).filter((id) => !counts.has(id));
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
    process.stdout.write(`several instances: ${TOTAL} messages, ${before} handled before the kill, ${lost.length} lost, ${duplicates} duplicate(s)\n`);
    expect(lost).toEqual([]);
    // Only what the killed process held unacked can run twice: its prefetch, per replica.
    expect(duplicates).toBeLessThanOrEqual(REPLICAS * PREFETCH);
    // The survivor did the rest: every message the killed process had not finished. (Counted by pid:
    // results the victim published just before the kill may still reach this reader after it.)
    const byVictim = new Set(handled.filter((r) => r.pid === victim.child.pid).map((r) => r.id));
    const bySurvivor = new Set(handled.filter((r) => r.pid === survivor.child.pid).map((r) => r.id));
    expect(byVictim.size).toBeLessThan(TOTAL / 2);
    expect(Array.from({ length: TOTAL }, (_, id) => id).filter((id) => !byVictim.has(id) && !bySurvivor.has(id))).toEqual([]);
    expect(bySurvivor.size).toBeGreaterThanOrEqual(TOTAL - byVictim.size);

    await waitFor(async () => (await queueInfo(vhost.url, 'work')).messageCount === 0, 10_000);
    expect((await queueInfo(vhost.url, 'work.dead')).messageCount).toBe(0);
    expect((await queueInfo(vhost.url, 'work')).consumerCount).toBe(REPLICAS);

    // The survivor drains and exits 0 on SIGTERM, as in a scale-down or a rollout.
    expect(await survivor.stop('SIGTERM')).toBe(0);
  }, 120_000);

  it("answers the image's HEALTHCHECK with the bearer token, and refuses it without", async () => {
    const w = await startWarren(project.dir, vhost.url, { env: { WARREN_ADMIN_HOST: '0.0.0.0', WARREN_ADMIN_TOKEN: token } });
    instances.push(w);
    const probe = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['-e', PROBE_SCRIPT, '/healthz'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
        child.on('exit', (code) => resolve(code));
      });
    expect(await probe({ WARREN_ADMIN_PORT: String(w.adminPort), WARREN_ADMIN_TOKEN: token })).toBe(0);
    expect(await probe({ WARREN_ADMIN_PORT: String(w.adminPort) })).toBe(1);
    expect(await w.stop('SIGTERM')).toBe(0);
  }, 60_000);
  it('runs the exact command a Kubernetes pod runs: one consumer of its one function per pod', async () => {
    const config = await loadConfig({ dir: project.dir, env: { AMQP_URL: vhost.url } });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML documents, walked by key
    const docs = parseAllDocuments(generateManifests(config)).map((d) => d.toJS() as Record<string, any>);
    const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'warren-work')!;
    expect(deployment.spec.replicas).toBe(REPLICAS);
    const args = deployment.spec.template.spec.containers[0].args as string[];
    expect(args[0]).toBe('start');
    const pod = await startWarren(project.dir, vhost.url, { args: args.slice(1), env: { WARREN_ADMIN_HOST: '0.0.0.0', WARREN_ADMIN_TOKEN: token } });
    instances.push(pod);
    await waitFor(async () => (await queueInfo(vhost.url, 'work')).consumerCount >= 1, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    // `replicas` pods x 1 consumer each = the consumers `replicas` threads give in one `warren start`.
    expect((await queueInfo(vhost.url, 'work')).consumerCount).toBe(1);
    expect(await pod.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
