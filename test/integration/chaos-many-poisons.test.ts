/**
 * Several poison messages in one function's backlog, each killing its replica in another way: only
 * they reach the dead-letter queue, after the limit; every good message runs and is handled, none is
 * dead-lettered for the deaths it happened to be held through without running.
 */
import { expect, it } from 'vitest';
import { createTestVhost, getAll, queueInfo } from '../helpers/broker';
import { createProject, startWarren, waitFor } from '../helpers/runtime';
import { collectResults, misbehavingHandler, publishMany, range, heldPerTest } from '../helpers/chaos';

const hold = heldPerTest();

it('dead-letters only the four poisons of a backlog, each after the limit; all 16 good messages are handled', async () => {
  const vhost = hold('vhost', await createTestVhost('chaos-poisons'));
  const project = hold(
    'project',
    await createProject(
      `
queues:
  results: { type: classic }
functions:
  poison: { replicas: 1, prefetch: 5, timeout: 2s, redeliveryLimit: 2, memory: 64MiB, retry: { attempts: 3, delay: 200ms, maxDelay: 1s } }
`,
      { poison: misbehavingHandler },
    ),
  );
  // The backlog is there before the runtime starts: each poison arrives in a prefetch beside good messages.
  const kinds = ['exit', 'spin', 'oom', 'uncaught'];
  const bodies = kinds.flatMap((kill, k) => [{ id: `poison-${kill}`, kill }, ...range(4).map((i) => ({ id: `ok-${k * 4 + i}` }))]);
  let warren = hold('warren', await startWarren(project.dir, vhost.url));
  await warren.stop();
  await publishMany(vhost.url, 'poison', bodies);
  const collector = hold('collector', await collectResults(vhost.url));
  warren = hold('warren', await startWarren(project.dir, vhost.url));

  const dead = await waitFor(
    async () => {
      const info = await queueInfo(vhost.url, 'poison.dead');
      return info.messageCount >= 4 ? getAll(vhost.url, 'poison.dead') : undefined;
    },
    150_000,
    500,
  );
  const ids = dead.map((m) => (JSON.parse(m.content.toString()) as { id: string }).id).sort();
  expect(ids).toEqual(kinds.map((k) => `poison-${k}`).sort());
  const c = collector;
  await waitFor(() => c.idsOf('poison').size === 16, 30_000, 200);
  expect([...c.idsOf('poison')].sort()).toEqual(
    range(16)
      .map((i) => `ok-${i}`)
      .sort(),
  );
}, 200_000);
