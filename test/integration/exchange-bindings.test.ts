/**
 * Exchange-to-exchange bindings and internal exchanges, as a user writes them in queues.yaml and runs
 * them: `warren start`, messages from `warren publish`, what each handler saw. An internal exchange
 * takes messages only through another exchange's binding: `warren publish` to it exits 2 saying so,
 * and a handler's `ctx.publish` to it fails (and is dead-lettered with that reason) instead of closing
 * its replica's channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, getAll, managementExchange, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';

const queuesYaml = `
exchanges:
  events: { type: topic }
  audit: { type: fanout, internal: true }
queues:
  results: { type: classic }
bindings:
  - "events[user.#] -> audit"
  - "audit -> auditor"
  - { exchange: events, toExchange: amq.direct, routingKey: order.new }
  - { exchange: amq.direct, queue: orders, routingKey: order.new }
functions:
  auditor: {}
  orders: {}
  leaky: { retry: { attempts: 1 } }
`;

/** Reports where its message came from to the `results` queue. */
const report = `
import type { Handler } from 'warren';
const handler: Handler = async (message, ctx) => {
  await ctx.publish('', 'results', { fn: ctx.functionName, message, exchange: ctx.exchange, routingKey: ctx.routingKey });
};
export default handler;
`;

interface Seen {
  fn: string;
  message: unknown;
  exchange: string;
  routingKey: string;
}

describe('exchange-to-exchange bindings and internal exchanges', () => {
  let vhost: TestVhost;
  let project: Project;
  let warren: RunningWarren;
  const seen: Seen[] = [];
  const seenBy = (fn: string, n: number) =>
    waitFor(async () => {
      for (const m of await getAll(vhost.url, 'results')) seen.push(JSON.parse(m.content.toString()) as Seen);
      const mine = seen.filter((s) => s.fn === fn);
      return mine.length >= n ? mine : undefined;
    });
  const publish = (...args: string[]) => runWarren(['publish', ...args, '--dir', project.dir], { AMQP_URL: vhost.url });

  beforeAll(async () => {
    vhost = await createTestVhost('e2e-bindings');
    project = await createProject(queuesYaml, {
      auditor: report,
      orders: report,
      leaky: `export default async (_m: unknown, ctx: { publish: (x: string, k: string, b: unknown) => Promise<void> }) => { await ctx.publish('audit', 'x', { sneaky: true }); };\n`,
    });
    warren = await startWarren(project.dir, vhost.url);
  });

  afterAll(async () => {
    expect(await warren?.stop()).toBe(0);
    await project?.remove();
    await vhost?.cleanup();
  });

  it('routes through one exchange into another, with the routing key and exchange the message was published with', async () => {
    expect((await publish('events', 'user.created', '{"id":1}')).code).toBe(0);
    expect((await publish('events', 'order.new', '{"id":2}')).code).toBe(0);
    // neither binding matches: unroutable, as RabbitMQ says
    const nowhere = await publish('events', 'order.old', '{"id":3}');
    // Not claimed as published: only the error, with what to check, and a failure exit
    expect([nowhere.code, nowhere.stdout]).toEqual([1, '']);
    expect(nowhere.stderr).toMatch(
      /^warren: the message was unroutable: no queue is bound to events for order.old, so the broker dropped it \[WARREN_E_PUBLISH_FAILED\]\n {2}hint: check the exchange and routing key/,
    );
    const noQueue = await publish('', 'no-such-queue', '{"id":3}', '--count', '3');
    expect([noQueue.code, noQueue.stdout]).toEqual([1, '']);
    expect(noQueue.stderr).toContain('all 3 messages were unroutable: no queue is named no-such-queue');
    expect(await seenBy('auditor', 1)).toEqual([{ fn: 'auditor', message: { id: 1 }, exchange: 'events', routingKey: 'user.created' }]);
    expect(await seenBy('orders', 1)).toEqual([{ fn: 'orders', message: { id: 2 }, exchange: 'events', routingKey: 'order.new' }]);
    expect(await managementExchange(vhost.name, 'audit')).toMatchObject({ type: 'fanout', internal: true });
  });

  it('refuses a publish to an internal exchange: exit 2 from warren publish, a failed attempt in a handler, and the replica keeps its channel', async () => {
    const direct = await publish('audit', '', '{"id":4}');
    expect(direct.code).toBe(2);
    expect(direct.stderr).toContain('exchange "audit" is internal');
    expect(direct.stderr).toContain('publish to an exchange bound to it');

    expect((await publish('', 'leaky', '{"id":5}')).code).toBe(0);
    const dead = await waitFor(async () => ((await queueInfo(vhost.url, 'leaky.dead')).messageCount === 1 ? getAll(vhost.url, 'leaky.dead') : undefined));
    expect(String(dead[0]!.properties.headers?.['x-warren-error'])).toContain('exchange "audit" is internal');
    expect(
      warren.logs.some(
        (l) => l.msg === 'consumer channel error' || l.msg === 'lost the broker connection; its unacked messages return to the queue; reconnecting',
      ),
    ).toBe(false);
    // the auditor never saw the sneaky message
    await new Promise((r) => setTimeout(r, 300));
    expect((await seenBy('auditor', 1)).map((s) => s.message)).toEqual([{ id: 1 }]);
  });
});
