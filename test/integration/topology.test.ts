import amqplib from 'amqplib';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { FunctionConfig, WarrenConfig } from '../../runtime/config/types';
import { functionConfig } from '../testkit/function-config';
import { WarrenError, WarrenErrors } from '../../runtime/errors';
import { declareTopology } from '../../runtime/topology/declare';
import { createTestVhost, getAll, management, managementExchange, managementQueue, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';

const log = pino({ level: 'silent' });
let vhost: TestVhost | undefined;

afterEach(async () => {
  await vhost?.cleanup();
  vhost = undefined;
});

const fn = (name: string, over: Partial<FunctionConfig> = {}): FunctionConfig => functionConfig(name, { maxBodyBytes: 1024 * 1024, ...over });

function config(v: TestVhost): WarrenConfig {
  return {
    dir: '/app',
    url: v.url,
    vhost: v.name,
    rascal: {},
    exchanges: {
      my_exchange: { name: 'my_exchange', type: 'direct', durable: true, autoDelete: false, internal: false, arguments: {} },
      users: { name: 'users', type: 'topic', durable: true, autoDelete: false, internal: false, arguments: {} },
    },
    queues: {
      my_app: { name: 'my_app', type: 'quorum', durable: true, arguments: {}, implicit: false, at: { file: '/app/queues.yaml', line: 6, column: 3 } },
    },
    bindings: [
      { exchange: 'my_exchange', queue: 'my_app', routingKey: 'test', arguments: {} },
      { exchange: 'users', queue: 'audit', routingKey: 'user.*.deleted', arguments: {} },
    ],
    functions: {
      'print-message': fn('print-message', { queue: 'my_app', retry: { attempts: 3, backoff: 'exponential', delay: 1_000, maxDelay: 60_000 } }),
      resize: fn('resize', { retry: { attempts: 1, backoff: 'fixed', delay: 1_000, maxDelay: 1_000 } }),
    },
  };
}

describe('declareTopology against RabbitMQ', () => {
  it('declares queues, dead and retry queues, exchanges and bindings, and again without complaint', async () => {
    vhost = await createTestVhost('warren-topology');
    const cfg = config(vhost);
    await declareTopology(cfg, { log });

    const main = await managementQueue(vhost.name, 'my_app');
    expect(main).toMatchObject({
      type: 'quorum',
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'my_app.dead' },
    });
    expect(await managementQueue(vhost.name, 'my_app.dead')).toMatchObject({ type: 'quorum', arguments: { 'x-queue-type': 'quorum' } });
    expect(await managementQueue(vhost.name, 'my_app.retry.2s')).toMatchObject({
      type: 'quorum',
      durable: true,
      arguments: { 'x-message-ttl': 2_000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'my_app', 'x-dead-letter-strategy': 'at-least-once' },
    });
    expect(await managementQueue(vhost.name, 'resize')).toMatchObject({ type: 'quorum' });
    expect(await managementQueue(vhost.name, 'resize.retry.1s')).toBeUndefined();
    expect(await managementQueue(vhost.name, 'audit')).toMatchObject({ type: 'quorum' });
    expect(await managementExchange(vhost.name, 'my_exchange')).toMatchObject({ type: 'direct', durable: true });
    expect(await managementExchange(vhost.name, 'users')).toMatchObject({ type: 'topic' });
    const bindings = (await management('GET', `/api/bindings/${encodeURIComponent(vhost.name)}/e/users/q/audit`)) as Array<{ routing_key: string }>;
    expect(bindings.map((b) => b.routing_key)).toEqual(['user.*.deleted']);

    // a second start finds everything equivalent
    await declareTopology(cfg, { log });
    const names = ((await management('GET', `/api/queues/${encodeURIComponent(vhost.name)}?columns=name`)) as Array<{ name: string }>).map((q) => q.name);
    // Seven of queues.yaml's, and the delay ladder's levels, deliver and undeliverable queues.
    expect(names.filter((n) => !n.startsWith('warren.delay.'))).toHaveLength(7);
    expect(names.filter((n) => n.startsWith('warren.delay.'))).toHaveLength(17 + 2);
  });

  it('routes through bindings, and a message in a retry queue returns to its queue when the delay ends', async () => {
    vhost = await createTestVhost('warren-topology');
    await declareTopology(config(vhost), { log });

    await publishRaw(vhost.url, 'my_exchange', 'test', 'routed');
    await publishRaw(vhost.url, '', 'my_app.retry.1s', 'later');
    expect((await getAll(vhost.url, 'my_app')).map((m) => m.content.toString())).toEqual(['routed']);
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await getAll(vhost.url, 'my_app')).map((m) => m.content.toString())).toEqual(['later']);
    expect(await queueInfo(vhost.url, 'my_app.retry.1s')).toEqual({ messageCount: 0, consumerCount: 0 });
  });

  it('routes through exchange-to-exchange bindings with the routing key the message was published with, and makes no queue of an exchange', async () => {
    vhost = await createTestVhost('warren-topology');
    const base = config(vhost);
    await declareTopology(
      {
        ...base,
        exchanges: { ...base.exchanges, audit: { name: 'audit', type: 'fanout', durable: true, autoDelete: false, internal: false, arguments: {} } },
        bindings: [
          ...base.bindings,
          { exchange: 'users', queue: 'audit', toExchange: true, routingKey: 'user.#', arguments: {} },
          { exchange: 'users', queue: 'amq.direct', toExchange: true, routingKey: 'user.moved', arguments: {} },
          { exchange: 'audit', queue: 'my_app', routingKey: '', arguments: {} },
          { exchange: 'amq.direct', queue: 'audit', routingKey: 'user.moved', arguments: {} },
        ],
      },
      { log },
    );
    // users[user.#] -> audit -> my_app; users[user.moved] -> amq.direct -> audit (queue), the key kept on the way
    await publishRaw(vhost.url, 'users', 'user.1.deleted', 'deleted');
    await publishRaw(vhost.url, 'users', 'user.moved', 'moved');
    await publishRaw(vhost.url, 'my_exchange', 'nothing-bound', 'dropped');
    expect((await getAll(vhost.url, 'my_app')).map((m) => [m.fields.exchange, m.fields.routingKey, m.content.toString()])).toEqual([
      ['users', 'user.1.deleted', 'deleted'],
      ['users', 'user.moved', 'moved'],
    ]);
    expect((await getAll(vhost.url, 'audit')).map((m) => m.content.toString())).toEqual(['deleted', 'moved']);
    expect(await managementExchange(vhost.name, 'audit')).toMatchObject({ type: 'fanout' });
    const e2e = (await management('GET', `/api/bindings/${encodeURIComponent(vhost.name)}/e/users/e/audit`)) as Array<{ routing_key: string }>;
    expect(e2e.map((b) => b.routing_key)).toEqual(['user.#']);
  });

  it('keeps a classic retry queue made by an earlier Warren, warns how to migrate it, and declares the rest replicated', async () => {
    vhost = await createTestVhost('warren-topology');
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('my_app.retry.1s', {
        durable: true,
        arguments: { 'x-message-ttl': 1_000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'my_app' },
      });
    } finally {
      await conn.close();
    }
    const warnings: string[] = [];
    const fields: Array<Record<string, unknown>> = [];
    const recording = pino(
      { level: 'warn' },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as { msg: string };
          warnings.push(entry.msg);
          fields.push(entry);
        },
      },
    );
    await declareTopology(config(vhost), { log: recording });
    expect(warnings.join('\n')).toContain('my_app.retry.1s is a classic retry queue made by an earlier Warren');
    // The function by its name, not by its queue's (print-message's queue is my_app).
    expect(fields.find((f) => f.queue === 'my_app.retry.1s')).toMatchObject({ function: 'print-message', serves: 'my_app' });
    expect(warnings.join('\n')).toContain(`rabbitmqctl -p ${vhost.name} delete_queue my_app.retry.1s`);
    expect(await managementQueue(vhost.name, 'my_app.retry.1s')).toMatchObject({ type: 'classic' });
    expect(await managementQueue(vhost.name, 'my_app.retry.2s')).toMatchObject({ type: 'quorum' });
    // and it still works as a retry queue
    await publishRaw(vhost.url, '', 'my_app.retry.1s', 'later');
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await getAll(vhost.url, 'my_app')).map((m) => m.content.toString())).toEqual(['later']);
  });

  it('refuses a classic queue where queues.yaml wants quorum, names x-queue-type, and declares nothing', async () => {
    vhost = await createTestVhost('warren-topology');
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue('my_app', { durable: true });
      await ch.assertExchange('users', 'fanout', { durable: true });
    } finally {
      await conn.close();
    }

    const err = await declareTopology(config(vhost), { log }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WarrenErrors);
    const errors = (err as WarrenErrors).errors;
    expect(errors.map((e) => e.code)).toEqual(['WARREN_E_TOPOLOGY_MISMATCH', 'WARREN_E_TOPOLOGY_MISMATCH']);
    const shown = (err as WarrenErrors).format('/app');
    expect(shown).toContain('exchange users already exists on the broker with type = fanout, Warren would declare type = topic');
    expect(shown).toContain('queues.yaml:6:3 queues.my_app.type');
    expect(shown).toContain(
      'queue my_app already exists on the broker with x-queue-type not set (a classic queue), Warren would declare x-queue-type = quorum',
    );
    expect(shown).toContain('x-dead-letter-exchange');
    expect(shown).toContain('set `type: classic` under queues.my_app');
    expect(shown).toContain(`rabbitmqctl delete_queue -p ${vhost.name} my_app\` is safe`);

    expect(await managementExchange(vhost.name, 'my_exchange')).toBeUndefined();
    expect(await managementQueue(vhost.name, 'my_app.dead')).toBeUndefined();
    expect(await managementQueue(vhost.name, 'my_app')).toMatchObject({ type: 'classic', arguments: {} });
    expect(await managementExchange(vhost.name, 'users')).toMatchObject({ type: 'fanout' });
  });

  it('reports a queue argument the broker refuses as bad input at its queues.yaml line, not as a topology changed during start', async () => {
    vhost = await createTestVhost('warren-topology');
    const c = config(vhost);
    // x-max-age belongs to streams: RabbitMQ refuses it on a quorum queue at declare time
    const refused = { ...c, queues: { my_app: { ...c.queues.my_app!, arguments: { 'x-max-age': '1D' } } } };
    const err = await declareTopology(refused, { log }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WarrenError);
    const e = err as WarrenError;
    expect(e.code).toBe('WARREN_E_CONFIG_CONFLICT');
    expect(e.message).toBe('the broker refuses x-max-age on queue "my_app" (quorum queue)');
    expect(e.details).toMatchObject({
      file: '/app/queues.yaml',
      line: 6,
      column: 3,
      hint: expect.stringContaining('drop x-max-age from queues.my_app.arguments'),
    });
  });

  it('test vhosts refuse to clean up after a leaked connection or consumer (and are deleted anyway)', async () => {
    const leaky = await createTestVhost('warren-topology');
    const conn = await amqplib.connect(leaky.url);
    conn.on('error', () => undefined); // deleting the vhost closes it from the broker side
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('q');
    await ch.consume('q', () => undefined);
    await expect(leaky.cleanup()).rejects.toThrow(/queue q still has 1 consumer\(s\).*1 connection\(s\) still open/);
    expect(((await management('GET', '/api/vhosts')) as Array<{ name: string }>).map((v) => v.name)).not.toContain(leaky.name);
  });

  it('reports an unreachable broker without its password', async () => {
    const cfg: WarrenConfig = { ...config({ name: '/', url: 'amqp://guest:hunter2@127.0.0.1:1', cleanup: async () => {} }), vhost: '/' };
    const err = await declareTopology(cfg, { log, connectTimeoutMs: 2_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WarrenError);
    expect((err as WarrenError).code).toBe('WARREN_E_BROKER_UNREACHABLE');
    expect((err as WarrenError).message).toContain('amqp://guest:***@127.0.0.1:1');
    expect((err as WarrenError).message).not.toContain('hunter2');
    expect((err as WarrenError).details.hint).toContain('rabbitmq-server -detached');
  });
});
