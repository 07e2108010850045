/**
 * Issue: `ordered: true` is a single active consumer whose messages are handled strictly in publish
 * order, also when the active replica dies mid-message; the other replicas stand by.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTestVhost, getAll, queueInfo } from '../helpers/broker';
import { createProject, startWarren, waitFor, type RunningWarren } from '../helpers/runtime';
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

/** A vhost of its own and a project whose one function, `ledger` (its queues.yaml lines), reports to `results`. */
async function ledgerProject(vhostPrefix: string, ledgerYaml: string, handler: string) {
  const vhost = hold('vhost', await createTestVhost(vhostPrefix));
  const project = hold('project', await createProject(`\nqueues:\n  results: { type: classic }\nfunctions:\n  ledger:${ledgerYaml}`, { ledger: handler }));
  return { vhost, project };
}

const deaths = (w: RunningWarren) => w.logs.filter((l) => String(l.msg).startsWith('replica died'));

describe('an ordered function', () => {
  it('keeps publish order across a replica crash, with the other replicas standing by', async () => {
    const { vhost, project } = await ledgerProject(
      'ordered',
      `
    ordered: true
    replicas: 3
    prefetch: 20          # ordered takes one message at a time whatever this says
    timeout: 2s
    retry: { attempts: 3, delay: 100ms }
`,
      misbehavingHandler,
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
    expect(deaths(warren)).toHaveLength(1);
    // The dead replica was restarted: three consumers again, one active.
    const after = await waitFor(async () => {
      const list = await consumersOf(v.name, 'ledger');
      return list.length === 3 ? list : undefined;
    });
    expect(after.filter(Boolean)).toHaveLength(1);
    expect((await queueInfo(v.url, 'ledger')).messageCount).toBe(0);
  });

  it('retries a failing message in place: nothing behind it overtakes it', async () => {
    const { vhost, project } = await ledgerProject(
      'ordered-retry',
      `
    ordered: true
    replicas: 2
    retry: { attempts: 3, delay: 100ms }
`,
      `
import type { Handler } from 'warren';
const handler: Handler<{ id: number }> = async (m, ctx) => {
  if (m.id === 5 && ctx.attempt < 3) throw new Error('not yet');
  await ctx.publish('', 'results', { fn: ctx.functionName, id: m.id, attempt: ctx.attempt });
};
export default handler;
`,
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

  it('with batch, runs its batches in publish order, across a failed item and a replica killed mid-batch', async () => {
    // Commits items in order and stops at the first that fails (Lambda's advice for FIFO queues).
    const { vhost, project } = await ledgerProject(
      'ordered-batch',
      `
    ordered: true
    replicas: 2
    batch: { size: 10, window: 50ms }
    retry: { attempts: 3, delay: 100ms }
`,
      `
import type { BatchHandler } from 'warren';
type In = { id: number; kill?: string };
const handler: BatchHandler<In> = async (items, ctx) => {
  for (const [i, item] of items.entries()) {
    if (item.body.kill === 'exit-once' && item.attempt === 1) process.exit(1);
    if (item.body.id === 37 && item.attempt < 2) return { failed: [i] };
    await ctx.publish('', 'results', { fn: ctx.functionName, id: item.body.id, attempt: item.attempt });
  }
};
export default handler;
`,
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const v = vhost;
    await waitFor(async () => (await consumersOf(v.name, 'ledger')).length === 2);
    await publishMany(
      vhost.url,
      'ledger',
      range(200).map((id) => (id === 120 ? { id, kill: 'exit-once' } : { id })),
    );
    const c = collector;
    await waitFor(() => c.idsOf('ledger').size === 200, 30_000, 100);
    const ids = c.of('ledger').map((r) => r.id as number);
    // At least once: the items of the batch that died before the poison ran may come twice, right after it; never out of order.
    const firsts = ids.filter((id, i) => ids.indexOf(id) === i);
    expect(firsts).toEqual(range(200));
    for (let i = 1; i < ids.length; i++) if (ids[i]! < ids[i - 1]!) expect(ids.indexOf(ids[i]!), `${ids[i]} again after ${ids[i - 1]}`).toBeLessThan(i);
    expect(ids.length - 200).toBeLessThan(10);
    expect(c.of('ledger').find((r) => r.id === 37)?.attempt).toBe(2);
    expect(deaths(warren)).toHaveLength(1);
    expect(warren.logs.some((l) => String(l.msg).includes('retrying in place'))).toBe(true);
    await waitFor(async () => (await queueInfo(v.url, 'ledger')).messageCount === 0);
    expect((await queueInfo(v.url, 'ledger.dead')).messageCount).toBe(0);
  });

  it('with batch, dead-letters only a message that kills every replica, not the items held behind it', async () => {
    const { vhost, project } = await ledgerProject(
      'ordered-poison',
      `
    ordered: true
    redeliveryLimit: 2
    batch: { size: 10, window: 50ms }
`,
      `
import type { BatchHandler } from 'warren';
const handler: BatchHandler<{ id: number; kill?: string }> = async (items, ctx) => {
  for (const item of items) {
    if (item.body.kill === 'exit') process.exit(1);
    await ctx.publish('', 'results', { fn: ctx.functionName, id: item.body.id, attempt: item.attempt });
  }
};
export default handler;
`,
    );
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    await warren.stop();
    // Published before the runtime starts: the poison's batch holds the items before and after it.
    await publishMany(
      vhost.url,
      'ledger',
      range(30).map((id) => (id === 12 ? { id, kill: 'exit' } : { id })),
    );
    const collector = hold('collector', await collectResults(vhost.url));
    warren = hold('warren', await startWarren(project.dir, vhost.url));
    const v = vhost;
    const c = collector;
    await waitFor(() => c.idsOf('ledger').size === 29, 30_000, 100);
    const ids = c.of('ledger').map((r) => r.id as number);
    expect(ids.filter((id, i) => ids.indexOf(id) === i)).toEqual(range(30).filter((id) => id !== 12));
    const dead = await waitFor(async () => ((await queueInfo(v.url, 'ledger.dead')).messageCount === 1 ? getAll(v.url, 'ledger.dead') : undefined), 10_000);
    expect(dead.map((m) => (JSON.parse(m.content.toString()) as { id: number }).id)).toEqual([12]);
    expect(deaths(warren)).toHaveLength(3);
  });
});
