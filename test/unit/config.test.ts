import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, loadProject, readProject } from '../../runtime/config/index';
import { handler, load, problems, project, summary } from '../fixtures/config/project';

const specExample = fileURLToPath(new URL('../fixtures/config/spec-example', import.meta.url));

describe('loadConfig: the SPEC §2 example', () => {
  it('loads to normalised values', async () => {
    const config = await load(specExample);
    expect(config.dir).toBe(specExample);
    expect(config.url).toBe(DEFAULTS.url);
    expect(config.vhost).toBe('/');
    expect(config.exchanges.my_exchange).toMatchObject({ name: 'my_exchange', type: 'direct', durable: true, autoDelete: false, arguments: {} });
    expect(config.exchanges.users).toMatchObject({ type: 'topic', durable: true });
    expect(config.queues.my_app).toMatchObject({ type: 'classic', durable: true, implicit: false });
    // audit is the queue of the bare handler functions/audit.ts
    expect(config.queues.audit).toMatchObject({ type: 'quorum', durable: true, implicit: true });
    expect(config.bindings.map(({ exchange, queue, routingKey }) => ({ exchange, queue, routingKey }))).toEqual([
      { exchange: 'my_exchange', queue: 'my_app', routingKey: 'test' },
      { exchange: 'users', queue: 'audit', routingKey: 'user.*.deleted' },
    ]);
    const fn = config.functions['print-message'];
    expect(fn).toMatchObject({
      name: 'print-message',
      file: join(specExample, 'functions/print-message.ts'),
      queue: 'my_app',
      replicas: 2,
      prefetch: 10,
      timeout: 30_000,
      retry: { attempts: 5, backoff: 'exponential', delay: 1_000, maxDelay: 300_000 },
      redeliveryLimit: 3,
      deadLetter: true,
      schema: { type: 'object', required: ['action', 'userId'] },
      output: { exchange: 'users', routingKey: 'user.deleted' },
      ordered: false,
      memoryMb: 256,
      maxBodyBytes: 16 * 1024 * 1024,
    });
    expect(fn?.at).toEqual({ file: join(specExample, 'queues.yaml'), line: 11, column: 3 });
  });

  it('is frozen all the way down', async () => {
    const config = await load(specExample);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.functions['print-message']?.retry)).toBe(true);
    expect(Object.isFrozen(config.bindings[0])).toBe(true);
    expect(() => {
      (config.functions['print-message'] as { replicas: number }).replicas = 9;
    }).toThrow(TypeError);
  });
});

describe('loadConfig: exchange-to-exchange bindings', () => {
  it("takes the shorthand's destination as an exchange when it names one and no queue, and toExchange in the mapping form", async () => {
    const dir = await project({
      'functions/auditor.ts': handler,
      'queues.yaml': [
        'exchanges:',
        '  events: { type: direct }',
        '  audit: { type: fanout, internal: true }',
        '  auditor: { type: fanout }',
        'bindings:',
        '  - "events[user.deleted] -> audit"',
        '  - { exchange: events, toExchange: amq.topic }',
        '  - "audit -> auditor"',
        // an exchange and a queue of one name: the shorthand means the queue, as in rascal
        '  - "events[auditor] -> auditor"',
        '  - { exchange: audit, toExchange: auditor }',
        '',
      ].join('\n'),
    });
    const config = await load(dir);
    expect(config.bindings.map(({ exchange, queue, toExchange, routingKey }) => ({ exchange, queue, toExchange, routingKey }))).toEqual([
      { exchange: 'events', queue: 'audit', toExchange: true, routingKey: 'user.deleted' },
      // no key on a direct exchange: the destination's name, as for a queue
      { exchange: 'events', queue: 'amq.topic', toExchange: true, routingKey: 'amq.topic' },
      { exchange: 'audit', queue: 'auditor', toExchange: undefined, routingKey: '' },
      { exchange: 'events', queue: 'auditor', toExchange: undefined, routingKey: 'auditor' },
      { exchange: 'audit', queue: 'auditor', toExchange: true, routingKey: '' },
    ]);
    // no queue is made up for an exchange destination
    expect(Object.keys(config.queues)).toEqual(['auditor']);
    expect([config.exchanges.audit?.internal, config.exchanges.events?.internal]).toEqual([true, false]);
  });

  it('warns when a shorthand binding goes to a queue that shares its name with another exchange, with both ways to say it', async () => {
    const dir = await project({
      'functions/orders.ts': handler,
      'queues.yaml': [
        'exchanges:',
        '  shop: { type: topic }',
        '  orders: { type: topic }',
        'bindings:',
        '  - "shop[order.#] -> orders"',
        '  - "orders[order.created] -> orders"',
        '  - { exchange: shop, queue: orders, routingKey: order.new }',
        '',
      ].join('\n'),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    // the exchange feeding the queue of its own name is what it looks like: no warning
    expect(read.warnings).toEqual([
      'queues.yaml:5:5 bindings[0]: "shop[order.#] -> orders" binds shop to the queue orders; an exchange is named orders too' +
        '\n  hint: to bind to the exchange instead, write { exchange: shop, toExchange: orders, routingKey: "order.#" }; to keep the queue, write { exchange: shop, queue: orders, routingKey: "order.#" } and this warning goes',
    ]);
  });
});

describe('rascal.json: a top-level key rascal ignores', () => {
  it('draws a warning with the key it was probably meant to be; rascal keys and the connection do not', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'rascal.json': [
        '{',
        '  "vhost": { "orders": { "connection": { "url": "amqp://127.0.0.1/orders" } } },',
        '  "connection": { "heartbeat": 10 },',
        '  "redeliveries": {}',
        '}',
      ].join('\n'),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    expect(read.warnings).toEqual([
      'rascal.json:2:3 vhost: not a rascal option, so it is ignored' +
        "\n  hint: did you mean `vhosts`? rascal.json's top level takes vhosts, connection, connections, publications, subscriptions, redeliveries, encryption, defaults",
    ]);
  });
});

describe('loadConfig: defaults', () => {
  it('runs a bare handler file with the defaults and an implicit quorum queue', async () => {
    const dir = await project({ 'functions/hello.ts': handler });
    const config = await load(dir);
    expect(config.functions.hello).toEqual({
      name: 'hello',
      file: join(dir, 'functions/hello.ts'),
      queue: 'hello',
      replicas: 1,
      prefetch: 1,
      timeout: 30_000,
      retry: { attempts: 3, backoff: 'exponential', delay: 1_000, maxDelay: 300_000 },
      redeliveryLimit: 3,
      deadLetter: true,
      ordered: false,
      memoryMb: 256,
      maxBodyBytes: 16 * 1024 * 1024,
      at: { file: join(dir, 'functions/hello.ts'), line: 1, column: 1 },
    });
    expect(config.queues.hello).toMatchObject({ name: 'hello', type: 'quorum', durable: true, implicit: true, arguments: {} });
    expect(config.bindings).toEqual([]);
  });

  it('reads every unit: durations, sizes, memory, a declared quorum queue, a handler path', async () => {
    const dir = await project({
      'lib/worker.mjs': 'export default async () => {};\n',
      'queues.yaml': [
        'queues:',
        '  jobs: { maxLength: 1000, messageTtl: 1h, arguments: { x-expires: 86400000 } }',
        'functions:',
        '  work:',
        '    handler: lib/worker.mjs',
        '    queue: jobs',
        '    timeout: 1m30s',
        '    retry: { delay: 500ms, backoff: fixed }',
        '    memory: 1GiB',
        '    maxBodySize: 1MiB',
        '    redeliveryLimit: 7',
        '    ordered: true',
        '',
      ].join('\n'),
    });
    const config = await load(dir);
    expect(config.queues.jobs).toMatchObject({ type: 'quorum', maxLength: 1000, messageTtl: 3_600_000, arguments: { 'x-expires': 86_400_000 } });
    expect(config.functions.work).toMatchObject({
      file: join(dir, 'lib/worker.mjs'),
      queue: 'jobs',
      timeout: 90_000,
      retry: { attempts: 3, backoff: 'fixed', delay: 500, maxDelay: 300_000 },
      memoryMb: 1024,
      maxBodyBytes: 1024 * 1024,
      redeliveryLimit: 7,
      ordered: true,
    });
    // the handler file named through `handler:` is not a second function
    expect(Object.keys(config.functions)).toEqual(['work']);
  });

  it('takes a bare-number memory as MiB and maxBodySize as bytes', async () => {
    const dir = await project({ 'functions/a.js': handler, 'queues.yaml': 'functions:\n  a: { memory: 512, maxBodySize: 2048 }\n' });
    expect((await load(dir)).functions.a).toMatchObject({ memoryMb: 512, maxBodyBytes: 2048 });
  });

  it('accepts an entry with no settings', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': 'functions:\n  a:\n' });
    expect((await load(dir)).functions.a?.queue).toBe('a');
  });

  it('loads a schema from a .yaml or .json file relative to the project', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'schemas/a.yaml': 'type: object\nrequired: [id]\n',
      'schemas/b.json': '{ "type": "array" }',
      'queues.yaml': 'functions:\n  a: { schema: schemas/a.yaml }\n  b: { schema: schemas/b.json }\n',
    });
    const config = await load(dir);
    expect(config.functions.a).toMatchObject({ schema: { type: 'object', required: ['id'] }, schemaFile: join(dir, 'schemas/a.yaml') });
    expect(config.functions.b?.schema).toEqual({ type: 'array' });
  });
});

describe('loadConfig: bindings', () => {
  it('accepts rascal shorthand with several keys, and defaults keys by exchange type', async () => {
    const dir = await project({
      'functions/q.ts': handler,
      'queues.yaml': [
        'exchanges:',
        '  t: { type: topic }',
        '  d: { type: direct }',
        '  f: { type: fanout }',
        'bindings:',
        '  - "t[a.*, b.#] -> q"',
        '  - "t -> q"',
        '  - d -> q',
        '  - { exchange: f, queue: q }',
        '  - { exchange: amq.topic, queue: q, routingKey: [x, y] }',
        '',
      ].join('\n'),
    });
    const keys = (await load(dir)).bindings.map((b) => `${b.exchange}:${b.routingKey}`);
    expect(keys).toEqual(['t:a.*', 't:b.#', 't:#', 'd:q', 'f:', 'amq.topic:x', 'amq.topic:y']);
  });
});

describe('loadConfig: environment', () => {
  const yaml = [
    'exchanges:',
    '  ${PREFIX:-dev}_events: { type: topic }',
    'functions:',
    '  a:',
    '    replicas: ${REPLICAS:-2}',
    '    output: { exchange: "${PREFIX:-dev}_events", routingKey: "${KEY}" }',
    '',
  ].join('\n');

  it('interpolates ${VAR} and ${VAR:-default}, keeping numbers numbers', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': yaml });
    const config = await load(dir, { KEY: 'done', REPLICAS: '4' });
    expect(Object.keys(config.exchanges)).toEqual(['dev_events']);
    expect(config.functions.a).toMatchObject({ replicas: 4, output: { exchange: 'dev_events', routingKey: 'done' } });
    const other = await load(dir, { KEY: 'done', PREFIX: 'prod' });
    expect(other.functions.a).toMatchObject({ replicas: 2, output: { exchange: 'prod_events' } });
  });

  it('reports a missing variable with no default where it is written', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': yaml });
    const errors = await problems(dir, {});
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 6, column: 63, key: 'functions.a.output.routingKey' },
    ]);
    expect(errors[0]?.format(dir)).toContain('KEY');
  });

  it('reports an unset variable once, not also the empty value it leaves behind', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': 'queues:\n  q1:\n    type: classic\n    maxLength: ${MAXLEN}\n' });
    const errors = await problems(dir, {});
    expect(errors.map((e) => summary(e, dir))).toEqual([{ code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 4, column: 16, key: 'queues.q1.maxLength' }]);
  });

  it('refuses a malformed reference in queues.yaml where it is written, with the two forms in the hint, and no echo', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': [
        'queues:',
        '  q1: { type: classic, messageTtl: "${TTL-1m}" }',
        '  q2:',
        '    type: classic',
        '    maxLength: 1${N',
        'functions:',
        '  a:',
        '    queue: "q${}"',
        '    output: { exchange: amq.topic, routingKey: "k.$${literal}.${KEY" }',
        '',
      ].join('\n'),
    });
    const errors = await problems(dir, { KEY: 'x', N: '2' });
    expect(errors.map((e) => [summary(e, dir), e.message])).toEqual([
      [{ code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 2, column: 37, key: 'queues.q1.messageTtl' }, '`${TTL-1m}` is not an environment reference'],
      [{ code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 5, column: 17, key: 'queues.q2.maxLength' }, '`${N` is not an environment reference'],
      [{ code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 8, column: 14, key: 'functions.a.queue' }, '`${}` is not an environment reference'],
      [
        { code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 9, column: 63, key: 'functions.a.output.routingKey' },
        '`${KEY` is not an environment reference',
      ],
    ]);
    expect(errors[0]?.details.hint).toMatch(/^did you mean \$\{TTL:-1m\}\? write \$\{VAR\} or \$\{VAR:-default\}/);
    for (const e of errors.slice(1)) expect(e.details.hint).toMatch(/^write \$\{VAR\} or \$\{VAR:-default\}/);
  });

  it('refuses a malformed reference in rascal.json where it is written', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'rascal.json': '{\n  "connection": "amqp://${HOST-localhost}:${PORT}"\n}\n' });
    const errors = await problems(dir, { PORT: '5672' });
    expect(errors.map((e) => [summary(e, dir), e.message])).toEqual([
      [{ code: 'WARREN_E_CONFIG_ENV', file: 'rascal.json', line: 2, column: 25, key: 'connection' }, '`${HOST-localhost}` is not an environment reference'],
    ]);
    expect(errors[0]?.details.hint).toContain('${HOST:-localhost}');
  });

  it('reads the connection from rascal.json, interpolated', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'rascal.json': JSON.stringify({
        vhosts: { shop: { connection: { hostname: '${HOST}', user: 'bob', password: 'p@ss', options: { heartbeat: 5 } } } },
      }),
    });
    const config = await load(dir, { HOST: 'rabbit.internal' });
    expect(config.url).toBe('amqp://bob:p%40ss@rabbit.internal:5672/shop');
    expect(config.vhost).toBe('shop');
    // the connection Warren computes is gone; the rest of rascal.json stays
    expect(config.rascal).toEqual({ vhosts: { shop: { connection: { options: { heartbeat: 5 } } } } });
  });

  it('lets AMQP_URL win over rascal.json', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'rascal.json': '{ "vhosts": { "v1": { "connection": { "url": "amqp://a:b@elsewhere:5672/v1" } } } }',
    });
    const config = await load(dir, { AMQP_URL: 'amqp://u:secret@broker:5673/%2Fteam' });
    expect(config.url).toBe('amqp://u:secret@broker:5673/%2Fteam');
    expect(config.vhost).toBe('/team');
  });

  it('reports a rascal.json syntax error with line and column', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'rascal.json': '{\n  "vhosts": {\n    "v1": {},\n  }\n}\n' });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([{ code: 'WARREN_E_CONFIG_SYNTAX', file: 'rascal.json', line: 4, column: 3, key: undefined }]);
  });

  it('reports a missing variable in rascal.json', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'rascal.json': '{\n  "connection": "amqp://${RABBIT_HOST}"\n}\n' });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([{ code: 'WARREN_E_CONFIG_ENV', file: 'rascal.json', line: 2, column: 25, key: 'connection' }]);
  });
});

describe('loadProject: what a reload reads', () => {
  it('reports an entry without a handler file instead of refusing it, and keeps its settings for the topology', async () => {
    const dir = await project({ 'queues.yaml': 'functions:\n  a: { redeliveryLimit: 5 }\n  b: {}\n', 'functions/b.ts': handler });
    const { config, missingHandlers } = await loadProject({ dir, env: {} });
    expect([...missingHandlers.keys()]).toEqual(['a']);
    expect(summary(missingHandlers.get('a')!, dir)).toEqual({ code: 'WARREN_E_HANDLER_MISSING', file: 'queues.yaml', line: 2, column: 3, key: 'functions.a' });
    expect(config.functions.a).toMatchObject({ queue: 'a', redeliveryLimit: 5, file: join(dir, 'functions', 'a.ts') });
    expect(Object.keys(config.functions).sort()).toEqual(['a', 'b']);
    // loadConfig (what a start reads) still refuses it.
    expect((await problems(dir)).map((e) => e.code)).toEqual(['WARREN_E_HANDLER_MISSING']);
  });

  it('still refuses a project with any other problem', async () => {
    const dir = await project({ 'queues.yaml': 'functions:\n  a: {}\n  b: { replicas: two }\n', 'functions/b.ts': handler });
    await expect(loadProject({ dir, env: {} })).rejects.toThrow(/replicas/);
  });
});
