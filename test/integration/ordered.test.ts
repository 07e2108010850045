/**
 * Issue: `ordered: true` is a single active consumer whose messages are handled strictly in publish
 * order, also when the active replica dies mid-message; the other replicas stand by.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTestVhost, queueInfo } from '../helpers/broker';
import { createProject, startWarren, waitFor } from '../helpers/runtime';
import { collectResults, misbehavingHandler, publishMany, range, heldPerTest } from '../helpers/chaos';

/** `active` flag of each consumer on the queue, in real time (rabbitmqctl; AMQP counts only the active one). */
async function consumersOf(vhostName: string, queue: string): Promise<boolean[]> {
  const { stdout } = await promisify(execFile)('rabbitmqctl', ['list_consumers', '-q', '--no-table-headers', '-p', vhostName, 'queue_name', 'active']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([q]) => q === queue)
    .map(([, active]) => active === 'true');
}

const hold = heldPerTest();

describe('an ordered function', () => {
  it('keeps publish order across a replica crash, with the other replicas standing by', async () => {
    const vhost = hold('vhost', await createTestVhost('ordered'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  ledger:
    ordered: true
    replicas: 3
    prefetch: 20          # ordered takes one message at a time whatever this says
    timeout: 2s
    retry: { attempts: 3, delay: 100ms }
`,
        { ledger: misbehavingHandler },
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    // Three replicas consume; the broker lets one of them take messages.
    const v = vhost;
    const consumers = await waitFor(async () => {
      const list = await consumersOf(v.name, 'ledger');
      return list.length === 3 ? list : undefined;
    });
    expect(consumers.filter(Boolean)).toHaveLength(1);

    const bodies = range(300).map((id) => (id === 120 ? { id, kill: 'exit-once' } : { id, ms: id % 7 === 0 ? 3 : 0 }));
    await publishMany(vhost.url, 'ledger', bodies);
    const c = collector;
    await waitFor(() => c.idsOf('ledger').size === 300, 30_000, 100);

    const ids = c.of('ledger').map((r) => r.id);
    expect(ids).toEqual(range(300));
    expect(c.of('ledger').find((r) => r.id === 120)?.attempt).toBe(2);
    expect(warren.logs.filter((l) => String(l.msg).startsWith('replica died'))).toHaveLength(1);
    // The dead replica was restarted: three consumers again, one active.
    const after = await waitFor(async () => {
      const list = await consumersOf(v.name, 'ledger');
      return list.length === 3 ? list : undefined;
    });
    expect(after.filter(Boolean)).toHaveLength(1);
    expect((await queueInfo(v.url, 'ledger')).messageCount).toBe(0);
  });

  it('retries a failing message in place: nothing behind it overtakes it', async () => {
    const vhost = hold('vhost', await createTestVhost('ordered-retry'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  ledger:
    ordered: true
    replicas: 2
    retry: { attempts: 3, delay: 100ms }
`,
        {
          ledger: `
import type { Handler } from 'warren';
const handler: Handler<{ id: number }> = async (m, ctx) => {
  if (m.id === 5 && ctx.attempt < 3) throw new Error('not yet');
  await ctx.publish('', 'results', { fn: ctx.functionName, id: m.id, attempt: ctx.attempt });
};
export default handler;
`,
        },
      ),
    );
    hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await publishMany(
      vhost.url,
      'ledger',
      range(20).map((id) => ({ id })),
    );
    const c = collector;
    await waitFor(() => c.idsOf('ledger').size === 20, 15_000, 100);
    expect(c.of('ledger').map((r) => r.id)).toEqual(range(20));
    expect(c.of('ledger').find((r) => r.id === 5)?.attempt).toBe(3);
  });
});
