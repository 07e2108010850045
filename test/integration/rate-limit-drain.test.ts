/**
 * A redeploy or a scale down drains replicas (SPEC §5) that hold messages waiting for their rate-limit
 * turn: those never started, so they go back to the queue at once, unstarted and uncounted, and the
 * replicas that consume next run them, each once, in the turns the drained replicas gave up.
 */
import { expect, it } from 'vitest';
import { createTestVhost } from '../helpers/broker';
import { collectResults, createProject, heldPerTest, lostAndDuplicated, publishIds, runCli, startRuntime } from './admin-harness';

const hold = heldPerTest();

/** 6/min: one start every 10 s; each of the 3 replicas holds one message (the prefetch is capped to the rate). */
const queues = `
exchanges:
  results: { type: fanout }
queues:
  results: { type: classic }
bindings:
  - { exchange: results, queue: results, routingKey: all }
functions:
  trickle:
    replicas: 3
    prefetch: 5
    rateLimit: 6/min
    output: { exchange: results, routingKey: all }
`;

/** Returns when it started, with its version and attempt. */
const handler = (version: string) => `
import type { Handler } from 'warren';
const handler: Handler<{ id: string }> = async (m, ctx) => ({ id: m.id, fn: ctx.functionName, v: ${JSON.stringify(version)}, attempt: ctx.attempt, at: Date.now() });
export default handler;
`;

type Started = { id: string; fn: string; v: string; attempt: number; at: number };

async function startTrickle(name: string) {
  const vhost = hold('vhost', await createTestVhost(name));
  const project = hold('project', await createProject({ 'queues.yaml': queues, 'functions/trickle.ts': handler('v1') }));
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();
  return { vhost, project, runtime };
}

it('a redeploy hands back what the old version holds for its turn: the answer comes at once, the new version runs them in those turns', async () => {
  const { vhost, project, runtime } = await startTrickle('rate-deploy');
  const ids = ['a', 'b', 'c', 'd'];
  await publishIds(vhost.url, 'trickle', ids);
  // The first starts at once; the other three wait in the old replicas for turns 10, 20 and 30 s later.
  const [first] = (await collectResults(vhost.url, 1, 10_000)) as unknown as Started[];
  expect(first).toMatchObject({ v: 'v1', attempt: 1 });

  await project.write('functions/trickle.ts', handler('v2'));
  const deployed = await runCli(['deploy', 'trickle'], runtime.env);
  expect(deployed.stderr).toBe('');
  expect(deployed.code).toBe(0);
  // Not one rate-limit turn (10 s): the drain did not wait for the held messages' turns.
  expect(deployed.ms).toBeLessThan(8_000);
  expect(runtime.output()).toContain('handed back messages still waiting for their rate-limit turn, unstarted');

  const rest = (await collectResults(vhost.url, 3, 45_000)) as unknown as Started[];
  expect(lostAndDuplicated(ids, [first!, ...rest])).toEqual({ lost: [], duplicated: [] });
  // The old code started nothing after the deploy; the new code ran each held message, as attempt 1.
  expect(rest.map((r) => [r.v, r.attempt])).toEqual([
    ['v2', 1],
    ['v2', 1],
    ['v2', 1],
  ]);
  // In the turns the old replicas gave up (10, 20, 30 s after the first start), not after them (40 s on).
  expect(Math.max(...rest.map((r) => r.at)) - first!.at).toBeLessThan(38_000);
});

it('a scale down hands back what the removed replicas hold for their turn: the answer comes at once, the remaining replica runs them', async () => {
  const { vhost, runtime } = await startTrickle('rate-scale');
  const ids = ['a', 'b', 'c'];
  await publishIds(vhost.url, 'trickle', ids);
  const [first] = (await collectResults(vhost.url, 1, 10_000)) as unknown as Started[];

  const down = await runCli(['scale', 'trickle', '1'], runtime.env);
  expect(down.code).toBe(0);
  expect(down.ms).toBeLessThan(8_000);

  const rest = (await collectResults(vhost.url, 2, 35_000)) as unknown as Started[];
  expect(lostAndDuplicated(ids, [first!, ...rest])).toEqual({ lost: [], duplicated: [] });
  expect(rest.map((r) => r.attempt)).toEqual([1, 1]);
});
