import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProject } from '../../runtime/config';
import { handler, problems, project, summary } from '../fixtures/config/project';

const lines = (...l: string[]): string => l.join('\n') + '\n';

describe('loadConfig: missing project', () => {
  it('refuses a folder that does not exist, with a hint about --dir', async () => {
    const dir = join(tmpdir(), 'warren-no-such-project-' + process.pid);
    const [error, ...rest] = await problems(dir);
    expect(rest).toEqual([]);
    expect(error?.code).toBe('WARREN_E_CONFIG_MISSING');
    expect(error?.details.hint).toContain('--dir');
  });

  it('refuses a file given as the project folder, with a hint at the folder that holds it', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': 'functions: {}\n' });
    for (const [file, folder] of [
      ['queues.yaml', dir],
      ['functions/a.ts', dir],
    ]) {
      const [error, ...rest] = await problems(join(dir, file!));
      expect(rest).toEqual([]);
      expect(error?.code).toBe('WARREN_E_CONFIG_MISSING');
      expect(error?.message).toBe(`project folder ${join(dir, file!)} is a file`);
      expect(error?.details.hint).toBe(`--dir takes the folder that holds queues.yaml and functions/, not a file in it: --dir ${folder}`);
    }
  });

  it('refuses a folder with neither queues.yaml nor a handler file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-empty-'));
    try {
      const errors = await problems(dir);
      expect(errors.map((e) => summary(e, dir))).toEqual([
        { code: 'WARREN_E_CONFIG_MISSING', file: 'queues.yaml', line: undefined, column: undefined, key: undefined },
      ]);
      expect(errors[0]?.details.hint).toContain('functions/');
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('loadConfig: shape errors', () => {
  it('reports a YAML syntax error with its line', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines('functions:', '  a:', '    replicas: [1, 2', '') });
    const errors = await problems(dir);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'WARREN_E_CONFIG_SYNTAX' && e.details.file === join(dir, 'queues.yaml'))).toBe(true);
    expect(errors[0]?.details.line).toBeGreaterThanOrEqual(3);
  });

  it('reports a duplicate key where it is repeated, naming the key and where it was first written', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines('functions:', '  a: { replicas: 1 }', '  a: { replicas: 2 }') });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([{ code: 'WARREN_E_CONFIG_SYNTAX', file: 'queues.yaml', line: 3, column: 3, key: 'functions.a' }]);
    expect(errors[0]?.message).toBe('`a` is written twice in this mapping, first at line 2, column 3');
    expect(errors[0]?.details.hint).toContain('`a:`');
  });

  it('refuses two keys that one substitution makes equal, instead of keeping the second', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines('functions:', '  ${NAME}: { replicas: 2 }', '  a: { replicas: 1 }') });
    const errors = await problems(dir, { NAME: 'a' });
    expect(errors.map((e) => summary(e, dir))).toEqual([{ code: 'WARREN_E_CONFIG_ENV', file: 'queues.yaml', line: 3, column: 3, key: 'functions.a' }]);
    expect(errors[0]?.message).toBe('`a` is written twice in this mapping once its ${…} is substituted, first at line 2, column 3');
    expect(await problems(dir, { NAME: 'b' })).not.toContainEqual(expect.objectContaining({ code: 'WARREN_E_CONFIG_ENV' }));
  });

  it('names every duplicate key, nested, in a flow mapping or in a list, each with its first spot', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('functions:', '  a:', '    replicas: 1', '    "replicas": 2', 'bindings:', '  - { exchange: amq.topic, queue: a, queue: b }'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => [summary(e, dir), e.message])).toEqual([
      [
        { code: 'WARREN_E_CONFIG_SYNTAX', file: 'queues.yaml', line: 4, column: 5, key: 'functions.a.replicas' },
        '`replicas` is written twice in this mapping, first at line 3, column 5',
      ],
      [
        { code: 'WARREN_E_CONFIG_SYNTAX', file: 'queues.yaml', line: 6, column: 38, key: 'bindings[0].queue' },
        '`queue` is written twice in this mapping, first at line 6, column 28',
      ],
    ]);
  });

  it('reports every wrong key and value at once, at their exact spot, with suggestions', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  ev: { type: topik }',
        'queues:',
        '  q: { type: classic, maxLenght: 3 }',
        'functions:',
        '  a:',
        '    replica: 2',
        '    prefetch: 0',
        '    timeout: 30 seconds',
        '    retry: { attempts: two, backof: fixed }',
        '    memory: big',
        'bindings:',
        '  - { exchange: ev, queue: q, routingKey: [] }',
        '  - "ev[x] => q"',
      ),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 15, key: 'exchanges.ev.type' },
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 4, column: 23, key: 'queues.q.maxLenght' },
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 7, column: 5, key: 'functions.a.replica' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 8, column: 15, key: 'functions.a.prefetch' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 9, column: 14, key: 'functions.a.timeout' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 10, column: 24, key: 'functions.a.retry.attempts' },
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 10, column: 29, key: 'functions.a.retry.backof' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 11, column: 13, key: 'functions.a.memory' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 13, column: 43, key: 'bindings[0].routingKey' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 14, column: 5, key: 'bindings[1]' },
    ]);
    const hints = errors.map((e) => e.details.hint ?? '');
    expect(hints[1]).toContain('did you mean `maxLength`?');
    expect(hints[2]).toContain('did you mean `replicas`?');
    expect(hints[6]).toContain('did you mean `backoff`?');
    expect(errors[0]?.details.expected).toBe('one of direct, topic, fanout, headers');
    expect(errors[3]?.details.expected).toBe('an integer from 1 to 10000');
    expect(errors[4]?.format(dir)).toBe(
      'queues.yaml:9:14 functions.a.timeout: got "30 seconds" (expected a duration > 0 and at most 1d: milliseconds or a string like 500ms, 30s, 5m, 1h, 1m30s) [WARREN_E_CONFIG_TYPE]\n  hint: write `timeout: 30s` (units: ms, s, m, h, d)',
    );
    expect(errors[9]?.details.expected).toContain('exchange[key1,key2] -> queue');
  });

  it('reports an unknown top-level key', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines('exchange:', '  e: { type: topic }') });
    const [error] = await problems(dir);
    expect(error && summary(error, dir)).toEqual({ code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 1, column: 1, key: 'exchange' });
    expect(error?.details.hint).toContain('did you mean `exchanges`?');
  });

  it('checks the x-arguments RabbitMQ knows before anything is declared, and passes the others as they are', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'queues:',
        '  a: { arguments: { x-max-length: "abc", x-overflow: bogus, x-custom-thing: [1] } }',
        '  b: { type: classic, arguments: { x-single-active-consumer: "yes", x-expires: 0, x-queue-type: stream } }',
        '  c: { arguments: { x-max-length: 5, x-overflow: reject-publish, x-expires: 60000 } }',
      ),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 35, key: 'queues.a.arguments.x-max-length' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 54, key: 'queues.a.arguments.x-overflow' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 62, key: 'queues.b.arguments.x-single-active-consumer' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 80, key: 'queues.b.arguments.x-expires' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 97, key: 'queues.b.arguments.x-queue-type' },
    ]);
    expect(errors[4]?.details.expected).toContain('type: classic');
  });

  it("refuses a headers binding's x-match RabbitMQ does not know, at its line (the broker refused it half way through start)", async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  h: { type: headers }',
        'bindings:',
        '  - { exchange: h, queue: a, arguments: { x-match: bogus, kind: x } }',
        '  - { exchange: h, queue: a, arguments: { x-match: any-with-x, kind: y } }',
        'functions:',
        '  a: {}',
      ),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 4, column: 52, key: 'bindings[0].arguments.x-match' },
    ]);
    expect(errors[0]?.details.hint).toBe('write one of: all, any, all-with-x, any-with-x');
  });
});

describe('loadConfig: references and conflicts', () => {
  it('refuses a key written twice in a JSON schema file, at the second one', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'schemas/twice.json': lines('{', '  "type": "object",', '  "type": "array"', '}'),
      'queues.yaml': lines('functions:', '  a: { schema: schemas/twice.json }'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_SYNTAX', file: 'schemas/twice.json', line: 3, column: 3, key: 'functions.a.schema' },
    ]);
    expect(errors[0]?.details.hint).toContain('keep the last one');
    expect(errors[0]?.message).toBe('"type" appears twice in the same object, first at line 2, column 3');
  });

  it('collects every semantic problem into one report', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'functions/c.ts': handler,
      'schemas/bad.json': '{"type": "object",}',
      'schemas/invalid.json': '{"type": "objekt"}',
      'queues.yaml': lines(
        'exchanges:',
        '  events: { type: topic }',
        'queues:',
        '  shared: { type: classic }',
        '  jobs.dead: {}',
        'bindings:',
        '  - { exchange: evnets, queue: shared }',
        '  - "events[x] -> nowhere"',
        'functions:',
        '  a: { queue: shared, ordered: true, output: { exchange: missing } }',
        '  b: { queue: shared, schema: schemas/bad.json }',
        '  c: { schema: schemas/invalid.json }',
        '  d: { schema: schemas/none.yaml }',
        '  e: { handler: lib/e.ts, schema: { type: objekt } }',
        '  f: { queue: f.retry.1s }',
      ),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 5, column: 3, key: 'queues.jobs.dead' },
      { code: 'WARREN_E_CONFIG_REFERENCE', file: 'queues.yaml', line: 7, column: 17, key: 'bindings[0].exchange' },
      { code: 'WARREN_E_CONFIG_REFERENCE', file: 'queues.yaml', line: 8, column: 5, key: 'bindings[1]' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 10, column: 32, key: 'functions.a.ordered' },
      { code: 'WARREN_E_CONFIG_REFERENCE', file: 'queues.yaml', line: 10, column: 58, key: 'functions.a.output.exchange' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 11, column: 15, key: 'functions.b.queue' },
      { code: 'WARREN_E_HANDLER_MISSING', file: 'queues.yaml', line: 13, column: 3, key: 'functions.d' },
      { code: 'WARREN_E_SCHEMA_MISSING', file: 'queues.yaml', line: 13, column: 16, key: 'functions.d.schema' },
      { code: 'WARREN_E_HANDLER_MISSING', file: 'queues.yaml', line: 14, column: 17, key: 'functions.e.handler' },
      { code: 'WARREN_E_SCHEMA_INVALID', file: 'queues.yaml', line: 14, column: 43, key: 'functions.e.schema.type' },
      { code: 'WARREN_E_HANDLER_MISSING', file: 'queues.yaml', line: 15, column: 3, key: 'functions.f' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 15, column: 15, key: 'functions.f.queue' },
      { code: 'WARREN_E_SCHEMA_MISSING', file: 'schemas/bad.json', line: 1, column: 19, key: 'functions.b.schema' },
      // the wrong value inside the schema file itself, not `schema:` in queues.yaml
      { code: 'WARREN_E_SCHEMA_INVALID', file: 'schemas/invalid.json', line: 1, column: 2, key: 'type' },
    ]);
    const hint = (key: string) => errors.find((e) => e.details.key === key)?.details.hint ?? '';
    expect(hint('bindings[0].exchange')).toContain('did you mean `events`?');
    expect(hint('functions.d')).toContain('functions/ holds: functions/a.ts, functions/b.ts, functions/c.ts');
    expect(hint('functions.d')).not.toContain('did you mean');
    expect(errors.find((e) => e.details.key === 'functions.b.queue')?.message).toBe('functions a and b both consume queue "shared"');
  });

  it('says where an exchange-to-exchange binding goes wrong: an undeclared exchange, no destination or two', async () => {
    const dir = await project({
      'functions/audit.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  events: { type: topic }',
        '  audit: { type: fanout }',
        'bindings:',
        '  - { exchange: events, toExchange: audti }',
        '  - { exchange: events }',
        '  - { exchange: events, queue: audit, toExchange: audit }',
        '  - "events -> amq.topic"',
      ),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_REFERENCE', file: 'queues.yaml', line: 5, column: 37, key: 'bindings[0].toExchange' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 6, column: 5, key: 'bindings[1]' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 7, column: 5, key: 'bindings[2]' },
    ]);
    const [undeclared, none, two] = errors;
    expect(undeclared?.details.hint).toContain('did you mean `audit`?');
    expect(none?.message).toBe('a binding needs a destination');
    expect(two?.details.hint).toBe('make two bindings, one with `queue:`, one with `toExchange:`');
  });

  it('refuses an output to an internal exchange, which RabbitMQ would refuse to every publisher', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('exchanges:', '  audit: { type: fanout, internal: true }', 'functions:', '  a: { output: { exchange: audit } }'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 4, column: 28, key: 'functions.a.output.exchange' },
    ]);
    expect(errors[0]?.details.hint).toContain('send the output to an exchange bound to it (toExchange: audit)');
  });

  it('warns of an internal exchange nothing is bound to, which no message can reach', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  shop: { type: topic }',
        '  hub: { type: fanout, internal: true }',
        '  fed: { type: fanout, internal: true }',
        'bindings:',
        '  - { exchange: shop, toExchange: fed }',
        '  - "hub -> a"',
      ),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    expect(read.warnings).toEqual([
      'queues.yaml:3:3 exchanges.hub: exchange hub is internal and no exchange is bound to it, so no message can reach it' +
        '\n  hint: bind one to it, e.g. { exchange: …, toExchange: hub }, or drop `internal: true`',
    ]);
  });

  it('reports only the exchange entry when a shorthand binding goes to an exchange with a mistake in it', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('exchanges:', '  events: { type: topic }', '  audit: { type: fanot }', 'bindings:', '  - "events -> audit"'),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 18, key: 'exchanges.audit.type' },
    ]);
  });

  it('treats a bare handler and an entry on its queue as two functions on one queue', async () => {
    const dir = await project({ 'functions/audit.ts': handler, 'functions/b.ts': handler, 'queues.yaml': lines('functions:', '  b:', '    queue: audit') });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 3, column: 12, key: 'functions.b.queue' },
    ]);
  });

  it('refuses retry.maxDelay below retry.delay, zero timeouts and durable:false quorum queues', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('queues:', '  a: { durable: false }', 'functions:', '  a:', '    timeout: 0', '    retry: { delay: 10s, maxDelay: 5s }'),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 2, column: 17, key: 'queues.a.durable' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 5, column: 14, key: 'functions.a.timeout' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 6, column: 36, key: 'functions.a.retry.maxDelay' },
    ]);
  });

  it('reports two handler files for one function name, naming both', async () => {
    const dir = await project({ 'functions/a.ts': handler, 'functions/a.js': handler });
    const errors = await problems(dir);
    expect(errors.map((e) => e.code)).toEqual(['WARREN_E_CONFIG_CONFLICT']);
    expect(errors[0]?.message).toContain('a.js, a.ts');
  });

  it('never shows the password of a bad AMQP_URL', async () => {
    const dir = await project({ 'functions/a.ts': handler });
    const errors = await problems(dir, { AMQP_URL: 'http://user:hunter2@host/' });
    expect(errors.map((e) => [e.code, e.details.key])).toEqual([['WARREN_E_CONFIG_TYPE', 'AMQP_URL']]);
    expect(errors[0]?.format()).not.toContain('hunter2');
  });
});

describe('loadConfig: replicationFactor', () => {
  it('is read for a quorum queue, refused on a classic queue and below 1, each at its line', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'queues:',
        '  a: { replicationFactor: 3 }',
        '  c: { type: classic, replicationFactor: 2 }',
        '  z: { replicationFactor: 0 }',
        'functions:',
        '  a: {}',
      ),
    });
    // the shape error of z does not hide the conflict of c: both at once
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 3, column: 42, key: 'queues.c.replicationFactor' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 4, column: 27, key: 'queues.z.replicationFactor' },
    ]);
  });
});

describe('loadConfig: schedules', () => {
  it('reads schedule and timezone, UTC by default', async () => {
    const { load } = await import('../fixtures/config/project');
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines('functions:', '  a: { schedule: "0 2 * * *", timezone: Europe/Paris }', '  b: { schedule: "*/5 * * * * *" }'),
    });
    const config = await load(dir);
    expect(config.functions.a).toMatchObject({ schedule: '0 2 * * *', timezone: 'Europe/Paris' });
    expect(config.functions.b).toMatchObject({ schedule: '*/5 * * * * *', timezone: 'UTC' });
  });

  it('refuses a bad cron expression and an unknown time zone at their line, with a hint', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines('functions:', '  a:', '    schedule: "0 25 * * *"', '  b:', '    schedule: "0 2 * * *"', '    timezone: Europe/Pariss'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 15, key: 'functions.a.schedule' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 6, column: 15, key: 'functions.b.timezone' },
    ]);
    expect(errors[0]?.details.hint).toContain('0 2 * * *');
    expect(errors[1]?.message).toContain('Europe/Pariss');
    expect(errors[1]?.details.hint).toContain('Europe/Paris');
  });

  it('reports a bad cron expression beside an unknown time zone of the same function', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('functions:', '  a:', '    schedule: "0 25 * * *"', '    timezone: Mars/Olympus'),
    });
    expect((await problems(dir)).map((e) => [e.details.key, e.details.line])).toEqual([
      ['functions.a.schedule', 3],
      ['functions.a.timezone', 4],
    ]);
  });

  it('reports a bad cron expression beside a time zone of the wrong type', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('functions:', '  a:', '    schedule: "61 * * * *"', '    timezone: 5'),
    });
    expect((await problems(dir)).map((e) => [e.details.key, e.details.line]).sort()).toEqual([
      ['functions.a.schedule', 3],
      ['functions.a.timezone', 4],
    ]);
  });
});

describe('loadConfig: names Warren reserves for time', () => {
  it('refuses queues and exchanges named like the delay ladder or a schedule election queue', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('exchanges:', '  warren.delay.3: { type: topic }', 'queues:', '  warren.delay.deliver: {}', '  jobs.schedule: {}'),
    });
    const errors = await problems(dir);
    expect(errors.map((e) => [e.code, e.details.line])).toEqual([
      ['WARREN_E_CONFIG_CONFLICT', 2],
      ['WARREN_E_CONFIG_CONFLICT', 4],
      ['WARREN_E_CONFIG_CONFLICT', 5],
    ]);
    expect(errors[2]?.details.hint).toContain('.schedule');
  });
});

describe("loadConfig: rascal.json's connection of a shape Warren cannot read", () => {
  it('refuses it, with the key, line and what was expected, instead of connecting to vhost / on localhost', async () => {
    const cases: Array<[string, { line: number; key: string; message: RegExp }]> = [
      ['{\n  "vhosts": 5\n}\n', { line: 2, key: 'vhosts', message: /^got 5$/ }],
      ['{\n  "vhosts": {\n    "orders": 5\n  }\n}\n', { line: 3, key: 'vhosts.orders', message: /^got 5$/ }],
      ['{\n  "vhosts": {\n    "orders": {\n      "connection": 5\n    }\n  }\n}\n', { line: 4, key: 'vhosts.orders.connection', message: /^got 5$/ }],
      [
        '{\n  "vhosts": {\n    "orders": {\n      "connection": {\n        "url": 5\n      }\n    }\n  }\n}\n',
        { line: 5, key: 'vhosts.orders.connection.url', message: /^got 5$/ },
      ],
      ['{\n  "connections": { "a": 1 }\n}\n', { line: 2, key: 'connections', message: /^got \{"a":1\}$/ }],
      ['{\n  "connection": {\n    "hostname": "h",\n    "socketOptions": 7\n  }\n}\n', { line: 4, key: 'connection.socketOptions', message: /^got 7$/ }],
      [
        '{\n  "vhosts": {\n    "a": { "connection": "amqp://h/a" },\n    "b": { "connection": "amqp://h/b" }\n  }\n}\n',
        { line: 4, key: 'vhosts.b.connection', message: /points at two vhosts, at vhosts\.a\.connection and at vhosts\.b\.connection/ },
      ],
      ['{\n  "vhosts": {\n    "a": {},\n    "b": {}\n  }\n}\n', { line: 4, key: 'vhosts.b', message: /points at two vhosts, at vhosts\.a and at vhosts\.b/ }],
    ];
    for (const [rascal, want] of cases) {
      const dir = await project({ 'functions/a.ts': handler, 'rascal.json': rascal });
      const found = await problems(dir);
      expect(
        found.map((e) => ({ code: e.code, file: 'rascal.json', line: e.details.line, key: e.details.key })),
        rascal,
      ).toEqual([{ code: 'WARREN_E_CONFIG_TYPE', file: 'rascal.json', line: want.line, key: want.key }]);
      expect(found[0]!.message, rascal).toMatch(want.message);
      expect(found[0]!.details.expected, rascal).toBeTruthy();
    }
  });

  it('reads the shapes rascal documents: a URL, url, attributes with options, a cluster list, vhosts with their own topology', async () => {
    for (const rascal of [
      { connection: 'amqp://u:p@h:5672/v' },
      { vhosts: { v: { connection: { url: 'amqp://u:p@h/v', socketOptions: { timeout: 5000 } }, queues: {} } } },
      { vhosts: { v: { connection: { hostname: 'h', port: '5673', user: 'u', password: 'p', vhost: 'v', options: { heartbeat: 10 } } } } },
      { vhosts: { v: { connections: ['amqp://u:p@n1/v', { hostname: 'n2', vhost: 'v' }] } } },
      { vhosts: { v: { connection: 'amqp://h/v' }, other: {} } },
    ]) {
      const dir = await project({ 'functions/a.ts': handler, 'rascal.json': JSON.stringify(rascal, null, 2) });
      expect((await readProject({ dir, env: {} })).errors, JSON.stringify(rascal)).toEqual([]);
    }
  });
});
