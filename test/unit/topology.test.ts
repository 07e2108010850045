import { describe, expect, it } from 'vitest';
import type { FunctionConfig, QueueConfig, WarrenConfig } from '../../runtime/config/types';
import { DECLARE_CONCURRENCY, buildTopology } from '../../runtime/topology/rascal-config';
import { planDelayLadder } from '../../runtime/topology/plan';
import { replicaConnection } from '../../runtime/replica-protocol/connection';
import { vhostUrl } from '../../runtime/topology/names';
import { mismatchError, NOT_SET, parseInequivalence } from '../../runtime/topology/mismatch';
import { functionConfig } from '../testkit/function-config';
import { deadQueueName, formatDelay, retryDelay, retryLadder, retryQueueName } from '../../runtime/topology/names';

const at = (line: number) => ({ file: '/app/queues.yaml', line, column: 3 });

const fn = (name: string, over: Partial<FunctionConfig> = {}): FunctionConfig => functionConfig(name, over);

function queue(name: string, over: Partial<QueueConfig> = {}): QueueConfig {
  return { name, type: 'quorum', durable: true, arguments: {}, implicit: false, ...over };
}

/** SPEC §2's queues.yaml, plus a file `functions/resize.ts` with no entry. */
function specConfig(over: Partial<WarrenConfig> = {}): WarrenConfig {
  return {
    dir: '/app',
    url: 'amqp://guest:secret@127.0.0.1:5672',
    vhost: '/',
    rascal: {},
    exchanges: {
      my_exchange: { name: 'my_exchange', type: 'direct', durable: true, autoDelete: false, internal: false, arguments: {}, at: at(3) },
      users: { name: 'users', type: 'topic', durable: true, autoDelete: false, internal: false, arguments: {}, at: at(4) },
    },
    queues: {
      my_app: queue('my_app', { type: 'classic', at: at(6) }),
      resize: queue('resize', { implicit: true }),
    },
    bindings: [
      { exchange: 'my_exchange', queue: 'my_app', routingKey: 'test', arguments: {} },
      { exchange: 'users', queue: 'audit', routingKey: 'user.*.deleted', arguments: {} },
    ],
    functions: {
      'print-message': fn('print-message', {
        queue: 'my_app',
        replicas: 2,
        prefetch: 10,
        retry: { attempts: 5, backoff: 'exponential', delay: 1_000, maxDelay: 300_000 },
        output: { exchange: 'users', routingKey: 'user.deleted' },
        at: at(11),
      }),
      resize: fn('resize'),
    },
    ...over,
  };
}

describe('names', () => {
  it('formats delays the way queue names show them', () => {
    expect([1_000, 2_000, 500, 90_000, 3_600_000, 1_500, 0].map(formatDelay)).toEqual(['1s', '2s', '500ms', '1m30s', '1h', '1s500ms', '0ms']);
    expect(retryQueueName('my_app', 90_000)).toBe('my_app.retry.1m30s');
    expect(deadQueueName('my_app')).toBe('my_app.dead');
  });

  it('doubles exponential delays from the first retry and caps them', () => {
    const retry = { attempts: 10, backoff: 'exponential' as const, delay: 1_000, maxDelay: 5_000 };
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(retry, n))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(retryLadder(retry)).toEqual([1_000, 2_000, 4_000, 5_000]);
  });

  it('keeps fixed delays constant and has no ladder for a single attempt', () => {
    expect(retryLadder({ attempts: 4, backoff: 'fixed', delay: 2_000, maxDelay: 60_000 })).toEqual([2_000]);
    expect(retryLadder({ attempts: 1, backoff: 'exponential', delay: 1_000, maxDelay: 60_000 })).toEqual([]);
  });
});

describe('buildTopology for the SPEC §2 example', () => {
  const built = buildTopology(specConfig());
  const vhost = built.vhosts['/']!;

  it('connects with the configured URL', () => {
    expect(vhost.connection.url).toBe('amqp://guest:secret@127.0.0.1:5672');
  });

  it('declares every exchange with its type, durable', () => {
    expect(vhost.exchanges['my_exchange']).toMatchObject({ type: 'direct', assert: true, options: { durable: true, autoDelete: false } });
    expect(vhost.exchanges['users']).toMatchObject({ type: 'topic', options: { durable: true } });
  });

  it('gives the classic function queue its dead-letter route and no queue type; its dead-letter queue is replicated (quorum)', () => {
    expect(vhost.queues['my_app']!.options).toEqual({
      durable: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'my_app.dead' },
    });
    expect(vhost.queues['my_app.dead']!.options).toEqual({ durable: true, arguments: { 'x-queue-type': 'quorum' } });
  });

  it('builds the retry ladder for 5 attempts: 1s 2s 4s 8s, quorum queues each returning to the queue at least once', () => {
    const retries = Object.keys(vhost.queues).filter((q) => q.startsWith('my_app.retry.'));
    expect(retries).toEqual(['my_app.retry.1s', 'my_app.retry.2s', 'my_app.retry.4s', 'my_app.retry.8s']);
    expect(vhost.queues['my_app.retry.4s']!.options).toEqual({
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-message-ttl': 4_000,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': 'my_app',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
  });

  it('replicates a queue on `replicationFactor` nodes, its retry and dead-letter queues too', () => {
    const base = specConfig();
    const config: WarrenConfig = { ...base, queues: { ...base.queues, resize: queue('resize', { implicit: true, replicationFactor: 5 }) } };
    const queues = buildTopology(config).vhosts['/']!.queues;
    for (const name of ['resize', 'resize.dead', 'resize.retry.1s']) expect(queues[name]!.options.arguments['x-quorum-initial-group-size']).toBe(5);
    expect(queues['audit']!.options.arguments['x-quorum-initial-group-size']).toBeUndefined();
  });

  it('makes the implicit function queue a quorum queue with the delivery limit, dead queue quorum too', () => {
    // The broker's limit is a backstop above redeliveryLimit (3): Warren dead-letters first, with its headers.
    expect(vhost.queues['resize']!.options.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-delivery-limit': 5,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'resize.dead',
    });
    expect(vhost.queues['resize.dead']!.options.arguments).toEqual({ 'x-queue-type': 'quorum' });
    expect(Object.keys(vhost.queues).filter((q) => q.startsWith('resize.retry.'))).toEqual(['resize.retry.1s', 'resize.retry.2s']);
  });

  it('plans the delay ladder apart from rascal: exchange-to-exchange bindings for the levels a delay skips', () => {
    const ladder = planDelayLadder();
    const skips = ladder.bindings.filter((b) => b.toExchange);
    expect(skips).toHaveLength(17);
    expect(skips[0]).toMatchObject({ exchange: 'warren.delay.16', queue: 'warren.delay.15', routingKey: '0.#' });
    expect(ladder.queues.find((q) => q.name === 'warren.delay.16')!.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-message-ttl': 2 ** 16 * 1_000,
      'x-dead-letter-exchange': 'warren.delay.15',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    expect(ladder.queues.find((q) => q.name === 'warren.delay.deliver')!.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': 'warren.delay.undeliverable',
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
    });
    expect(Object.keys(vhost.queues).some((q) => q.startsWith('warren.delay.'))).toBe(false);
  });

  it('gives a scheduled function an election queue: quorum, single active consumer, one message', () => {
    const config = specConfig();
    const scheduled = {
      ...config,
      functions: { ...config.functions, 'print-message': { ...config.functions['print-message']!, schedule: '* * * * *', timezone: 'UTC' } },
    };
    const queues = buildTopology(scheduled).vhosts['/']!.queues;
    expect(queues['my_app.schedule']!.options.arguments).toEqual({
      'x-queue-type': 'quorum',
      'x-single-active-consumer': true,
      'x-max-length': 1,
      'x-overflow': 'drop-head',
    });
    expect(vhost.queues['my_app.schedule']).toBeUndefined();
  });

  it('declares the target of a shorthand binding as a default quorum queue and binds it', () => {
    expect(vhost.queues['audit']!.options).toEqual({ durable: true, arguments: { 'x-queue-type': 'quorum' } });
    expect(Object.values(vhost.bindings)).toEqual([
      { source: 'my_exchange', destination: 'my_app', destinationType: 'queue', bindingKey: 'test', options: {} },
      { source: 'users', destination: 'audit', destinationType: 'queue', bindingKey: 'user.*.deleted', options: {} },
    ]);
    // rascal reads `->` in a binding name as shorthand and would re-split the key
    expect(Object.keys(vhost.bindings).some((name) => name.includes('->'))).toBe(false);
  });

  it('binds an exchange to an exchange (amq.* ones known to rascal, never declared) and makes no queue of it', () => {
    const built = buildTopology(
      specConfig({
        bindings: [
          { exchange: 'users', queue: 'my_exchange', toExchange: true, routingKey: 'user.#', arguments: {} },
          { exchange: 'users', queue: 'amq.fanout', toExchange: true, routingKey: 'user.new', arguments: {} },
        ],
      }),
    );
    const v = built.vhosts['/']!;
    expect(Object.values(v.bindings)).toEqual([
      { source: 'users', destination: 'my_exchange', destinationType: 'exchange', bindingKey: 'user.#', options: {} },
      { source: 'users', destination: 'amq.fanout', destinationType: 'exchange', bindingKey: 'user.new', options: {} },
    ]);
    expect(v.exchanges['amq.fanout']).toMatchObject({ assert: false, type: 'fanout' });
    expect(v.queues['my_exchange']).toBeUndefined();
    expect(v.queues['amq.fanout']).toBeUndefined();
    // internal only when queues.yaml says so
    expect(v.exchanges['users']?.options).not.toHaveProperty('internal');
    const internal = buildTopology(
      specConfig({ exchanges: { hub: { name: 'hub', type: 'topic', durable: true, autoDelete: false, internal: true, arguments: {} } } }),
    );
    expect(internal.vhosts['/']!.exchanges['hub']?.options).toMatchObject({ internal: true });
  });

  it('generates no publications or subscriptions: replicas publish and consume through amqplib', () => {
    expect(built['publications']).toBeUndefined();
    expect(built['subscriptions']).toBeUndefined();
  });
});

describe('buildTopology options', () => {
  it('declares fanout and headers exchanges with their arguments, and headers binding arguments', () => {
    const built = buildTopology(
      specConfig({
        exchanges: {
          fan: { name: 'fan', type: 'fanout', durable: false, autoDelete: true, internal: false, arguments: {} },
          hdr: { name: 'hdr', type: 'headers', durable: true, autoDelete: false, internal: false, arguments: { 'alternate-exchange': 'fan' } },
        },
        bindings: [{ exchange: 'hdr', queue: 'my_app', routingKey: '', arguments: { 'x-match': 'all', kind: 'a' } }],
      }),
    );
    const vhost = built.vhosts['/']!;
    expect(vhost.exchanges['fan']).toMatchObject({ type: 'fanout', options: { durable: false, autoDelete: true } });
    expect(vhost.exchanges['hdr']).toMatchObject({ type: 'headers', options: { arguments: { 'alternate-exchange': 'fan' } } });
    expect(Object.values(vhost.bindings)[0]).toMatchObject({ bindingKey: '', options: { 'x-match': 'all', kind: 'a' } });
  });

  it('adds single active consumer, max length, TTL and user arguments; Warren computed ones win', () => {
    const built = buildTopology(
      specConfig({
        queues: { jobs: queue('jobs', { maxLength: 1000, messageTtl: 60_000, arguments: { 'x-max-length-bytes': 1e6, 'x-queue-type': 'classic' } }) },
        bindings: [],
        functions: { jobs: fn('jobs', { ordered: true, deadLetter: false, redeliveryLimit: 7 }) },
      }),
    );
    expect(built.vhosts['/']!.queues['jobs']!.options.arguments).toEqual({
      'x-max-length-bytes': 1e6,
      'x-queue-type': 'quorum',
      'x-delivery-limit': 9,
      'x-max-length': 1000,
      'x-message-ttl': 60_000,
      'x-single-active-consumer': true,
    });
    expect(built.vhosts['/']!.queues['jobs.dead']).toBeUndefined();
  });

  it('lays the user rascal.json underneath: connection options and pools kept, Warren topology wins', () => {
    const built = buildTopology(
      specConfig({
        vhost: 'prod',
        url: 'amqp://u:p@rabbit:5672/prod?heartbeat=10',
        rascal: {
          vhosts: {
            prod: {
              connection: { options: { heartbeat: 5 }, socketOptions: { timeout: 1000 } },
              publicationChannelPools: { confirmPool: { max: 20 } },
              concurrency: 2,
              queues: { my_app: { options: { durable: false, arguments: { 'x-max-priority': 5 } } }, extra: {} },
            },
          },
          defaults: { publications: { timeout: 3000 } },
          publications: { mine: { vhost: 'prod', exchange: 'users' } },
        },
      }),
    );
    const vhost = built.vhosts['prod']!;
    expect(vhost.connection).toEqual({ options: { heartbeat: 5 }, socketOptions: { timeout: 1000 }, url: 'amqp://u:p@rabbit:5672/prod?heartbeat=10' });
    expect(vhost['publicationChannelPools']).toEqual({ confirmPool: { max: 20 } });
    expect(vhost['concurrency']).toBe(2);
    expect(vhost.queues['my_app']!.options.durable).toBe(true);
    expect(vhost.queues['my_app']!.options.arguments['x-max-priority']).toBe(5);
    expect(vhost.queues['extra']).toEqual({});
    expect(built['defaults']).toEqual({ publications: { timeout: 3000 } });
    expect(built['publications']).toEqual({ mine: { vhost: 'prod', exchange: 'users' } });
  });

  it('declares on several channels side by side unless rascal.json says how many', () => {
    expect(buildTopology(specConfig()).vhosts['/']!['concurrency']).toBe(DECLARE_CONCURRENCY);
    expect(DECLARE_CONCURRENCY).toBeGreaterThan(1);
  });

  it('puts the vhost in the connection URL, since rascal reads it from there', () => {
    expect(vhostUrl('amqp://g:p@h:5672', 'a/b')).toBe('amqp://g:p@h:5672/a%2Fb');
    expect(vhostUrl('amqp://g:p@h:5672/x', '/')).toBe('amqp://g:p@h:5672');
  });
});

describe('replicaConnection', () => {
  it("connects to the config's vhost with rascal's heartbeat, and knows every declared exchange", () => {
    const connection = replicaConnection(specConfig(), 'print-message');
    const url = new URL(connection.url);
    expect(url.pathname).toBe('');
    expect(url.searchParams.get('heartbeat')).toBe('10');
    expect(connection.exchanges.filter((x) => !x.startsWith('warren.delay.')).sort()).toEqual(['my_exchange', 'users']);
    expect(connection.exchanges).toContain('warren.delay.deliver'); // the delay ladder's ways in
    expect(connection.socketOptions).toBeUndefined();
  });

  it("takes the heartbeat and socket options from rascal.json's connection", () => {
    const config = specConfig({
      vhost: 'shop',
      url: 'amqp://guest:guest@127.0.0.1:5672/shop',
      rascal: { vhosts: { shop: { connection: { options: { heartbeat: 5 }, socketOptions: { servername: 'mq' } } } } },
    });
    const connection = replicaConnection(config, 'print-message');
    expect(new URL(connection.url).pathname).toBe('/shop');
    expect(new URL(connection.url).searchParams.get('heartbeat')).toBe('5');
    expect(connection.socketOptions).toEqual({ servername: 'mq' });
  });

  it('refuses an unknown function by name', () => {
    expect(() => replicaConnection(specConfig(), 'nope')).toThrow(/no function named "nope"/);
  });
});

describe('topology mismatch errors', () => {
  const text =
    'Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg ' +
    "'x-queue-type' for queue 'my_app' in vhost '/': received 'quorum' but current is none\"";

  it('reads the argument and both values from the broker text', () => {
    expect(parseInequivalence(text)).toEqual({ argument: 'x-queue-type', kind: 'queue', name: 'my_app', vhost: '/', wanted: 'quorum', current: 'none' });
    const typed = "inequivalent arg 'x-max-length' for queue 'q' in vhost 'v': received the value '10' of type 'signedint' but current is none";
    expect(parseInequivalence(typed)).toMatchObject({ argument: 'x-max-length', wanted: '10', current: 'none' });
  });

  it('names the location, the argument, the values and how to migrate', () => {
    const plan = buildTopology(specConfig()); // keeps the example honest: my_app is a real queue there
    expect(plan.vhosts['/']!.queues['my_app']).toBeDefined();
    const err = mismatchError({
      kind: 'queue',
      name: 'my_app',
      vhost: '/',
      argument: 'x-queue-type',
      current: 'none',
      wanted: 'quorum',
      messageCount: 0,
      consumerCount: 0,
      queue: { name: 'my_app', type: 'quorum', durable: true, arguments: {}, role: 'main', of: 'my_app', fn: 'print-message', implicit: false, at: at(6) },
    });
    expect(err.code).toBe('WARREN_E_TOPOLOGY_MISMATCH');
    const shown = err.format('/app');
    expect(shown).toContain(
      'queues.yaml:6:3 queues.my_app.type: queue my_app already exists on the broker with x-queue-type not set (a classic queue), Warren would declare x-queue-type = quorum',
    );
    expect(shown).toContain('set `type: classic` under queues.my_app');
    expect(shown).toContain('create my_app.v2 with type quorum, shovel messages, delete my_app');
    expect(shown).toContain('`rabbitmqctl delete_queue my_app` is safe');
  });

  it('names the redeliveryLimit that keeps a queue declared with an older delivery limit', () => {
    const err = mismatchError({
      kind: 'queue',
      name: 'my_app',
      vhost: '/',
      argument: 'x-delivery-limit',
      current: '3',
      wanted: '5',
      messageCount: 4,
      consumerCount: 0,
      queue: { name: 'my_app', type: 'quorum', durable: true, arguments: {}, role: 'main', of: 'my_app', fn: 'print-message', implicit: false, at: at(6) },
    });
    const shown = err.format('/app');
    expect(shown).toContain('functions.print-message.redeliveryLimit');
    expect(shown).toContain('x-delivery-limit to redeliveryLimit + 2, so to keep my_app as it is set functions.print-message.redeliveryLimit to 1');
  });

  it('says a queue made without a delivery limit has to be made again, as no redeliveryLimit leaves it unset', () => {
    const err = mismatchError({
      kind: 'queue',
      name: 'my_app',
      vhost: '/',
      argument: 'x-delivery-limit',
      current: NOT_SET,
      wanted: '7',
      messageCount: 4,
      consumerCount: 0,
      queue: { name: 'my_app', type: 'quorum', durable: true, arguments: {}, role: 'main', of: 'my_app', fn: 'print-message', implicit: false, at: at(6) },
    });
    const shown = err.format('/app');
    expect(shown).toContain('my_app was made without a delivery limit');
    expect(shown).toContain('create my_app.v2 with the new settings, shovel messages, delete my_app');
    expect(shown).not.toContain('so x-delivery-limit is not set');
  });

  it("says an argument is not set, rather than printing the broker's `none` as its value", () => {
    const err = mismatchError({
      kind: 'queue',
      name: 'my_app',
      vhost: '/',
      argument: 'x-max-length',
      current: '10',
      wanted: 'none',
      messageCount: 3,
      consumerCount: 0,
      queue: { name: 'my_app', type: 'quorum', durable: true, arguments: {}, role: 'main', of: 'my_app', implicit: false, at: at(6) },
    });
    expect(err.message).toBe('queue my_app already exists on the broker with x-max-length = 10, Warren would declare it without x-max-length');
    expect(err.format('/app')).toContain('change queues.my_app.maxLength so x-max-length is 10');
  });

  it('names deadLetter: false as the setting that keeps a queue made without a dead-letter exchange', () => {
    const err = mismatchError({
      kind: 'queue',
      name: 'orders',
      vhost: '/',
      argument: 'x-dead-letter-routing-key',
      current: 'none',
      wanted: 'orders.dead',
      queue: { name: 'orders', type: 'classic', durable: true, arguments: {}, role: 'main', of: 'orders', fn: 'orders', implicit: false, at: at(6) },
    });
    expect(err.message).toBe(
      'queue orders already exists on the broker with x-dead-letter-routing-key not set, Warren would declare x-dead-letter-routing-key = orders.dead',
    );
    expect(err.format('/app')).toContain('set `deadLetter: false` under functions.orders');
  });

  it("prints the default exchange '' as '', not as a blank", () => {
    const err = mismatchError({
      kind: 'queue',
      name: 'b',
      vhost: '/',
      argument: 'x-dead-letter-exchange',
      current: 'none',
      wanted: '',
      queue: { name: 'b', type: 'quorum', durable: true, arguments: {}, role: 'main', of: 'b', fn: 'b', implicit: true },
    });
    expect(err.message).toBe(
      "queue b already exists on the broker with x-dead-letter-exchange not set, Warren would declare x-dead-letter-exchange = '' (the default exchange)",
    );
  });
});

describe("RabbitMQ's built-in amq.* exchanges", () => {
  const base = specConfig();
  const config: WarrenConfig = { ...base, bindings: [...base.bindings, { exchange: 'amq.topic', queue: 'audit', routingKey: 'a.#', arguments: {} }] };

  it('are bound to and published to, never declared', () => {
    const vhost = buildTopology(config).vhosts['/']!;
    expect(vhost.exchanges['amq.topic']).toMatchObject({ type: 'topic', assert: false, check: false });
    expect(replicaConnection(config, 'print-message').exchanges).toContain('amq.topic');
    expect(buildTopology(base).vhosts['/']!.exchanges['amq.topic']).toBeUndefined();
  });
});
