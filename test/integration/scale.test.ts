/**
 * `warren scale FN N` on a running runtime (SPEC §5): the broker sees N consumers within a second,
 * and scaling down during a stream of slow messages drains the removed replicas: 0 lost, 0 duplicated.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createTestVhost } from '../helpers/broker';
import {
  collectResults,
  consumerCount,
  createProject,
  lostAndDuplicated,
  publishIds,
  recordingHandler,
  recordingQueues,
  runCli,
  heldPerTest,
  startRuntime,
} from './admin-harness';

const hold = heldPerTest();

it('scales up within a second, then down during a stream of slow messages without losing or repeating one', async () => {
  const vhost = hold('vhost', await createTestVhost('scale'));
  const project = hold(
    'project',
    await createProject({
      'queues.yaml': recordingQueues({ slow: { replicas: 1, prefetch: 3 } }),
      'functions/slow.ts': recordingHandler('v1'),
    }),
  );
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();
  expect(await consumerCount(vhost.url, 'slow')).toBe(1);

  const up = await runCli(['scale', 'slow', '3'], runtime.env);
  expect(up.stderr).toBe('');
  expect(up.code).toBe(0);
  expect(up.stdout).toContain('slow: 3/3 replicas running');
  // The command returns once the new replicas consume; the broker already counts them.
  expect(await consumerCount(vhost.url, 'slow')).toBe(3);
  // The command's own time is mostly Node starting up (slow on a loaded machine); time the scaling through the API.
  const timed = performance.now();
  const api = await runtime.admin('/functions/slow/scale', { method: 'POST', body: JSON.stringify({ replicas: 4 }) });
  expect(api.status).toBe(200);
  expect(performance.now() - timed).toBeLessThan(1_000);
  expect(await consumerCount(vhost.url, 'slow')).toBe(4);

  // 40 messages of 150 ms over 4 replicas with prefetch 3: every replica holds in-flight and prefetched work.
  const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
  await publishIds(vhost.url, 'slow', ids, 150);
  await new Promise((r) => setTimeout(r, 300));
  const before = (await (await runtime.admin('/functions/slow')).json()) as { inFlight: number };
  expect(before.inFlight).toBeGreaterThanOrEqual(2);
  const down = await runCli(['scale', 'slow', '1'], runtime.env);
  expect(down.code).toBe(0);
  expect(await consumerCount(vhost.url, 'slow')).toBe(1);

  const results = await collectResults(vhost.url, ids.length);
  expect(lostAndDuplicated(ids, results)).toEqual({ lost: [], duplicated: [] });

  const status = await runCli(['status'], runtime.env);
  expect(status.stdout).toMatch(/^slow\s+\S+\s+1\/1\s+0\s+40\s+0\s+0\s+0\s+0$/m);
  expect(await runtime.stop()).toBe(0);
});

it('charges no message a redelivery when replicas drain under a backlog: scaled 2 → 0 → 2 six times, every message runs once, as attempt 1', async () => {
  const vhost = hold('vhost', await createTestVhost('scale-backlog'));
  const attemptHandler = `export default async function handler(message: { id: string }, ctx: { functionName: string; attempt: number }) {
  // 10 to 200 ms: settlements spread out, so the window is being refilled a few at a time when a drain lands
  await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 190));
  return { id: message.id, fn: ctx.functionName, v: String(ctx.attempt) };
}
`;
  const queues = recordingQueues({ frag: { replicas: 2, prefetch: 20 } }).replace('    prefetch: 20\n', '    prefetch: 20\n    redeliveryLimit: 1\n');
  const project = hold('project', await createProject({ 'queues.yaml': queues, 'functions/frag.ts': attemptHandler }));
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();

  const ids = Array.from({ length: 3_000 }, (_, i) => `b${i}`);
  await publishIds(vhost.url, 'frag', ids);
  const scale = async (replicas: number) =>
    expect((await runtime.admin('/functions/frag/scale', { method: 'POST', body: JSON.stringify({ replicas }) })).status).toBe(200);
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await scale(0);
    await scale(2);
  }

  const results = await collectResults(vhost.url, ids.length, 60_000);
  expect(lostAndDuplicated(ids, results)).toEqual({ lost: [], duplicated: [] });
  // Each drain cancelled its consumer with deliveries on their way: those came back counted, ran again
  // as suspects (attempt 2), and with redeliveryLimit 1 some were dead-lettered.
  expect(results.filter((r) => r.v !== '1').map((r) => `${r.id}@${r.v}`)).toEqual([]);
  expect(await runtime.stop()).toBe(0);
});

it('boots a large scale up in waves, so the threads do not starve one another into the watchdog: 18 replicas, at most 8 loading at once, none ended', async () => {
  const vhost = hold('vhost', await createTestVhost('scale-waves'));
  const project = hold(
    'project',
    await createProject({
      'queues.yaml': 'functions:\n  wide: { replicas: 1, prefetch: 1 }\n',
      // Each replica's module takes 400 ms to load and says when it began and ended.
      'functions/wide.ts': [
        "import { appendFileSync } from 'node:fs';",
        'appendFileSync(process.env.LOADS_FILE!, `${Date.now()} +\\n`);',
        'await new Promise((r) => setTimeout(r, 400));',
        'appendFileSync(process.env.LOADS_FILE!, `${Date.now()} -\\n`);',
        'export default async () => undefined;',
        '',
      ].join('\n'),
    }),
  );
  const loads = join(project.dir, 'loads.txt');
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url, { LOADS_FILE: loads }));
  await runtime.waitReady();
  const up = await runCli(['scale', 'wide', '18'], runtime.env);
  expect(up.stderr).toBe('');
  expect(up.stdout).toContain('wide: 18/18 replicas running');
  expect(await consumerCount(vhost.url, 'wide')).toBe(18);
  const events = (await readFile(loads, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([at, sign]) => ({ at: Number(at), delta: sign === '+' ? 1 : -1 }))
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let loading = 0;
  let most = 0;
  for (const e of events) most = Math.max(most, (loading += e.delta));
  expect(events.filter((e) => e.delta === 1)).toHaveLength(18);
  expect(most).toBeLessThanOrEqual(8);
  expect(runtime.output()).not.toMatch(/silent for|event loop blocked/);
  expect(await runtime.stop()).toBe(0);
});
