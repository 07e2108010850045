/**
 * Issue: run a function end to end. A user's project in a temporary folder, `warren start` as a
 * child process, messages from plain AMQP clients and from `warren publish`; every handler reports
 * what it saw to a `results` queue, which the test reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { createTestVhost, getAll, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';

const queuesYaml = `
exchanges:
  my_exchange: { type: direct }
  users: { type: topic }
queues:
  my_app: { type: classic }
  results: { type: classic }
bindings:
  - { exchange: my_exchange, queue: my_app, routingKey: test }
  - "users[user.#] -> results"
functions:
  tutorial: { queue: my_app, replicas: 3, prefetch: 5 }
  flaky:
    retry: { attempts: 3, backoff: exponential, delay: 300ms, maxDelay: 5s }
  strict:
    schema: { type: object, required: [action, userId] }
  rejecter: {}
  producer:
    output: { exchange: users, routingKey: user.deleted }
  sleeper:
    timeout: 300ms
    retry: { attempts: 1 }
  outsider:
    retry: { attempts: 1 }
  relay:
    retry: { attempts: 2, delay: 100ms }
  echo: {}
  rpc:
    retry: { attempts: 2, delay: 100ms }
`;

const report = (extra: string) => `
import type { Handler } from 'warren';
import { Reject } from 'warren';
const handler: Handler = async (message, ctx) => {
  await ctx.publish('', 'results', { fn: ctx.functionName, message, type: typeof message, attempt: ctx.attempt, at: Date.now() });
  ${extra}
};
export default handler;
`;

interface Result {
  fn: string;
  message: unknown;
  type: string;
  attempt: number;
  at: number;
}

describe('a function end to end', () => {
  let vhost: TestVhost;
  let project: Project;
  let warren: RunningWarren;
  const results: Result[] = [];

  async function collect(): Promise<Result[]> {
    for (const m of await getAll(vhost.url, 'results')) results.push(JSON.parse(m.content.toString()) as Result);
    return results;
  }
  const resultsOf = async (fn: string, n: number, timeoutMs = 10_000) =>
    waitFor(async () => {
      const mine = (await collect()).filter((r) => r.fn === fn);
      return mine.length >= n ? mine : undefined;
    }, timeoutMs);

  beforeAll(async () => {
    vhost = await createTestVhost('e2e');
    project = await createProject(queuesYaml, {
      tutorial: report(''),
      flaky: report("throw new Error('boom');"),
      strict: report(''),
      rejecter: report("throw new Reject('not for me');"),
      producer: `export default async (message: { userId: string }) => ({ fn: 'output', message, type: 'object', attempt: 0, at: Date.now() });`,
      sleeper: `
        import type { Handler } from 'warren';
        const handler: Handler = async (_message, ctx) => {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          await ctx.publish('', 'results', { fn: 'sleeper', message: String(ctx.signal.reason), type: 'aborted', attempt: ctx.attempt, at: Date.now() });
        };
        export default handler;`,
      // fails its first attempt, then passes the message on to echo with the headers it was given
      relay: `
        import type { Handler } from 'warren';
        const handler: Handler = async (message, ctx) => {
          if (ctx.attempt === 1) throw new Error('the first attempt fails');
          await ctx.publish('', 'results', { fn: 'relay', message: Object.keys(ctx.headers).sort(), type: 'headers', attempt: ctx.attempt, at: Date.now() });
          await ctx.publish('', 'echo', message, { headers: { ...ctx.headers, trace: 't1' } });
        };
        export default handler;`,
      echo: report(''),
      // answers a request on its replyTo queue, with its correlationId; the first run of a failFirst request fails, a silent one gets no answer
      rpc: `
        import type { Handler } from 'warren';
        const handler: Handler<{ a: number; b: number; failFirst?: boolean; silent?: boolean }> = async (message, ctx) => {
          if (message.silent) return;
          if (message.failFirst && ctx.attempt === 1) throw new Error('not yet');
          const { replyTo, correlationId } = ctx.properties;
          if (!replyTo) throw new Error('no replyTo');
          await ctx.publish('', replyTo, { sum: message.a + message.b, attempt: ctx.attempt }, { correlationId, type: 'sum' });
        };
        export default handler;`,
      // publishes to the exchange its message names: one declared by another application, or none, or the default exchange to a queue that does not exist
      outsider: `
        import type { Handler } from 'warren';
        const handler: Handler<{ exchange: string; routingKey?: string }> = async (message, ctx) => {
          await ctx.publish(message.exchange, message.routingKey ?? 'any', { fn: 'outsider', message, type: 'object', attempt: ctx.attempt, at: Date.now() });
        };
        export default handler;`,
    });
    warren = await startWarren(project.dir, vhost.url);
  });

  afterAll(async () => {
    const code = await warren?.stop();
    await project?.remove();
    await vhost?.cleanup();
    expect(code).toBe(0);
  });

  it('runs as many consumers on the queue as replicas', async () => {
    expect((await queueInfo(vhost.url, 'my_app')).consumerCount).toBe(3);
    expect((await queueInfo(vhost.url, 'flaky')).consumerCount).toBe(1);
  });

  it("hands a plain producer's `Test!` (no content type) to the handler as a string", async () => {
    await publishRaw(vhost.url, 'my_exchange', 'test', 'Test!');
    const [seen] = await resultsOf('tutorial', 1);
    expect(seen).toMatchObject({ message: 'Test!', type: 'string', attempt: 1 });
  });

  it('hands JSON bodies to the handler as objects, with or without a content type, and from `warren publish`', async () => {
    const body = { action: 'delete_user', userId: 'john_doe' };
    await publishRaw(vhost.url, 'my_exchange', 'test', JSON.stringify(body), { contentType: 'application/json' });
    await publishRaw(vhost.url, 'my_exchange', 'test', JSON.stringify({ ...body, userId: 'pika' }));
    const cli = await runWarren(['publish', 'my_exchange', 'test', JSON.stringify({ ...body, userId: 'cli' }), '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const seen = await resultsOf('tutorial', 4);
    const objects = seen.filter((r) => r.type === 'object').map((r) => (r.message as { userId: string }).userId);
    expect(objects.sort()).toEqual(['cli', 'john_doe', 'pika']);
  });

  it('runs a failing handler exactly `attempts` times with growing gaps, then dead-letters it with the error', async () => {
    await publishRaw(vhost.url, 'my_exchange', 'nowhere', 'x'); // unroutable: must not disturb anything
    await publishRaw(vhost.url, '', 'flaky', JSON.stringify({ n: 1 }), { contentType: 'application/json', messageId: 'flaky-1' });
    const runs = await resultsOf('flaky', 3, 15_000);
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3]);
    const gap1 = runs[1]!.at - runs[0]!.at;
    const gap2 = runs[2]!.at - runs[1]!.at;
    expect(gap1).toBeGreaterThanOrEqual(300);
    expect(gap2).toBeGreaterThanOrEqual(600);
    expect(gap2).toBeGreaterThan(gap1);

    const dead = await waitFor(async () => {
      const info = await queueInfo(vhost.url, 'flaky.dead');
      return info.messageCount === 1 ? getAll(vhost.url, 'flaky.dead') : undefined;
    });
    const headers = dead[0]!.properties.headers as Record<string, unknown>;
    expect(JSON.parse(dead[0]!.content.toString())).toEqual({ n: 1 });
    expect(dead[0]!.properties.messageId).toBe('flaky-1');
    expect(headers).toMatchObject({
      'x-warren-function': 'flaky',
      'x-warren-error': 'boom',
      'x-warren-attempts': 3,
      'x-warren-reason': 'error',
      'x-warren-original-exchange': '',
      'x-warren-original-routing-key': 'flaky',
    });
    expect(String(headers['x-warren-stack'])).toContain('boom');
    expect(String(headers['x-warren-version'])).toMatch(/^[0-9a-f]{12}$/);
    // no fourth run
    await new Promise((r) => setTimeout(r, 500));
    expect((await collect()).filter((r) => r.fn === 'flaky')).toHaveLength(3);
  });

  it('dead-letters a schema failure without running the handler', async () => {
    await publishRaw(vhost.url, '', 'strict', JSON.stringify({ action: 'delete_user' }), { contentType: 'application/json' });
    const dead = await waitFor(async () => ((await queueInfo(vhost.url, 'strict.dead')).messageCount === 1 ? getAll(vhost.url, 'strict.dead') : undefined));
    const headers = dead[0]!.properties.headers as Record<string, unknown>;
    expect(headers['x-warren-reason']).toBe('schema');
    expect(String(headers['x-warren-error'])).toContain('userId');
    expect((await collect()).filter((r) => r.fn === 'strict')).toHaveLength(0);
  });

  it('dead-letters a Reject after one run, and invalid JSON after none', async () => {
    await publishRaw(vhost.url, '', 'rejecter', JSON.stringify({ n: 2 }), { contentType: 'application/json' });
    await publishRaw(vhost.url, '', 'rejecter', '{not json', { contentType: 'application/json' });
    const dead = await waitFor(async () => ((await queueInfo(vhost.url, 'rejecter.dead')).messageCount === 2 ? getAll(vhost.url, 'rejecter.dead') : undefined));
    const reasons = dead.map((m) => (m.properties.headers as Record<string, unknown>)['x-warren-reason']).sort();
    expect(reasons).toEqual(['invalid-json', 'reject']);
    const rejected = dead.find((m) => (m.properties.headers as Record<string, unknown>)['x-warren-reason'] === 'reject')!;
    expect((rejected.properties.headers as Record<string, unknown>)['x-warren-error']).toBe('not for me');
    expect((await collect()).filter((r) => r.fn === 'rejecter')).toHaveLength(1);
  });

  it("publishes a handler's return value to its output route", async () => {
    await publishRaw(vhost.url, '', 'producer', JSON.stringify({ userId: 'ada' }), { contentType: 'application/json' });
    const [out] = await resultsOf('output', 1);
    expect(out!.message).toEqual({ userId: 'ada' });
    expect((await queueInfo(vhost.url, 'producer')).messageCount).toBe(0);
  });

  it('publishes to an exchange another application declared, and dead-letters a publish to one that does not exist, or to a missing queue', async () => {
    // Declared behind Warren's back, after it started: queues.yaml knows nothing of it.
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('elsewhere', 'fanout', { durable: false, autoDelete: false });
      await ch.bindQueue('results', 'elsewhere', '');
      await ch.bindQueue('results', 'amq.fanout', '');
      await ch.close();
    } finally {
      await conn.close();
    }
    await publishRaw(vhost.url, '', 'outsider', JSON.stringify({ exchange: 'elsewhere' }), { contentType: 'application/json' });
    await publishRaw(vhost.url, '', 'outsider', JSON.stringify({ exchange: 'amq.fanout' }), { contentType: 'application/json' });
    await publishRaw(vhost.url, '', 'outsider', JSON.stringify({ exchange: 'nowhere-declared' }), {
      contentType: 'application/json',
      messageId: 'lost-exchange',
    });
    await publishRaw(vhost.url, '', 'outsider', JSON.stringify({ exchange: '', routingKey: 'no-such-queue' }), {
      contentType: 'application/json',
      messageId: 'lost-queue',
    });
    await publishRaw(vhost.url, '', 'outsider', JSON.stringify({ exchange: 'elsewhere', after: true }), { contentType: 'application/json' });
    const seen = await resultsOf('outsider', 3);
    const messages = seen.map((r) => r.message);
    expect(messages).toHaveLength(3);
    expect(messages).toContainEqual({ exchange: 'amq.fanout' });
    expect(messages).toContainEqual({ exchange: 'elsewhere' });
    expect(messages).toContainEqual({ exchange: 'elsewhere', after: true });
    const dead = await waitFor(async () => ((await queueInfo(vhost.url, 'outsider.dead')).messageCount === 2 ? getAll(vhost.url, 'outsider.dead') : undefined));
    const errors = Object.fromEntries(dead.map((m) => [m.properties.messageId, String((m.properties.headers as Record<string, unknown>)['x-warren-error'])]));
    expect(Object.keys(errors).sort()).toEqual(['lost-exchange', 'lost-queue']);
    expect(errors['lost-exchange']).toContain('no exchange "nowhere-declared" on the broker');
    expect(errors['lost-queue']).toContain('no queue "no-such-queue" on the broker');
    await new Promise((r) => setTimeout(r, 300));
    expect((await collect()).filter((r) => r.fn === 'outsider')).toHaveLength(3);
  });

  it('answers a request on its replyTo queue with its correlationId (after a retry too, and through direct reply-to)', async () => {
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      const replies: amqplib.ConsumeMessage[] = [];
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.consume(queue, (m) => void (m && replies.push(m)), { noAck: true });
      // RabbitMQ's direct reply-to: the reply goes to this channel's consumer, no queue at all
      const direct: amqplib.ConsumeMessage[] = [];
      await ch.consume('amq.rabbitmq.reply-to', (m) => void (m && direct.push(m)), { noAck: true });
      const ask = (body: object, replyTo: string, correlationId: string) =>
        ch.sendToQueue('rpc', Buffer.from(JSON.stringify(body)), { contentType: 'application/json', replyTo, correlationId });
      ask({ a: 2, b: 3 }, queue, 'c-1');
      ask({ a: 5, b: 5, failFirst: true }, queue, 'c-2');
      ask({ a: 1, b: 1 }, 'amq.rabbitmq.reply-to', 'c-3');
      await waitFor(() => replies.length === 2 && direct.length === 1, 15_000);
      const read = (m: amqplib.ConsumeMessage) => ({ id: m.properties.correlationId, type: m.properties.type, body: JSON.parse(m.content.toString()) });
      expect(replies.map(read).sort((x, y) => String(x.id).localeCompare(String(y.id)))).toEqual([
        { id: 'c-1', type: 'sum', body: { sum: 5, attempt: 1 } },
        { id: 'c-2', type: 'sum', body: { sum: 10, attempt: 2 } },
      ]);
      expect(direct.map(read)).toEqual([{ id: 'c-3', type: 'sum', body: { sum: 2, attempt: 1 } }]);
    } finally {
      await conn.close();
    }
    expect((await queueInfo(vhost.url, 'rpc.dead')).messageCount).toBe(0);
  });

  it('`warren publish --wait-reply` prints the reply a function sends back, and says when none comes', async () => {
    const asked = await runWarren(['publish', '', 'rpc', '{"a":20,"b":22}', '--wait-reply', '10s', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(asked.code).toBe(0);
    expect(JSON.parse(asked.stdout)).toEqual({ sum: 42, attempt: 1 });
    expect(asked.stderr).toMatch(/^reply in \d+ ms \(application\/json\)\n$/);

    const silent = await runWarren(['publish', '', 'rpc', '{"silent":true}', '--wait-reply', '1s', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(silent.code).toBe(1);
    expect(silent.stderr).toContain('no reply within 1 s (the request was published) [WARREN_E_NO_REPLY]');

    const nowhere = await runWarren(['publish', '', 'no-such-queue', '{}', '--wait-reply', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toContain('the request was unroutable');
  });

  it("shows a retried handler the producer's headers only, so forwarding them starts the next function at attempt 1", async () => {
    await publishRaw(vhost.url, '', 'relay', JSON.stringify({ n: 7 }), { contentType: 'application/json', headers: { tenant: 'acme' } });
    const [relayed] = await resultsOf('relay', 1);
    expect(relayed).toMatchObject({ attempt: 2, message: ['tenant'] });
    const [echoed] = await resultsOf('echo', 1);
    expect(echoed).toMatchObject({ attempt: 1, message: { n: 7 } });
  });

  it('aborts ctx.signal at the timeout and dead-letters the message as timed out after its last attempt', async () => {
    await publishRaw(vhost.url, '', 'sleeper', '{}', { contentType: 'application/json' });
    const [aborted] = await resultsOf('sleeper', 1);
    expect(aborted!.message).toContain('timed out');
    const dead = await waitFor(async () => ((await queueInfo(vhost.url, 'sleeper.dead')).messageCount === 1 ? getAll(vhost.url, 'sleeper.dead') : undefined));
    expect((dead[0]!.properties.headers as Record<string, unknown>)['x-warren-reason']).toBe('timeout');
  });
});
