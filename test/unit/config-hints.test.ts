/**
 * SPEC §2: every config error names the file, the line and column, and a hint. These are the
 * mistakes people make most (an unquoted cron, `5 minutes`, a comment in rascal.json, …), each
 * checked for a message that says what to write instead.
 */
import { describe, expect, it } from 'vitest';
import { readProject } from '../../runtime/config';
import type { WarrenError } from '../../runtime/errors';
import { handler, load, problems, project, summary } from '../fixtures/config/project';

const lines = (...l: string[]): string => l.join('\n') + '\n';

async function yamlProblems(...yaml: string[]): Promise<Array<ReturnType<typeof summary> & { message: string; hint?: string }>> {
  const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines(...yaml) });
  return (await problems(dir)).map((e: WarrenError) => ({ ...summary(e, dir), message: e.message, hint: e.details.hint }));
}

async function rascalProblems(json: string): Promise<Array<ReturnType<typeof summary> & { message: string; hint?: string }>> {
  const dir = await project({ 'functions/a.ts': handler, 'rascal.json': json });
  return (await problems(dir)).map((e: WarrenError) => ({ ...summary(e, dir), message: e.message, hint: e.details.hint }));
}

describe('config errors: a hint for every shape error', () => {
  it('says a ${…} in a flow mapping needs block style, unquoted or quoted, instead of sending the user in a circle', async () => {
    const [unquoted, ...more] = await yamlProblems('functions:', '  a: { replicas: ${R:-2} }');
    expect(more).toEqual([]);
    expect(unquoted).toMatchObject({ code: 'WARREN_E_CONFIG_SYNTAX', line: 2 });
    expect(unquoted!.hint).toContain('block style');
    const [quoted] = await yamlProblems('functions:', "  a: { replicas: '${R:-2}' }");
    expect(quoted).toMatchObject({ code: 'WARREN_E_CONFIG_TYPE', key: 'functions.a.replicas', line: 2 });
    expect(quoted!.hint).toContain('block style');
    // In block style the substituted number is a number.
    const dir = await project({ 'functions/a.ts': handler, 'queues.yaml': lines('functions:', '  a:', '    replicas: ${R:-2}') });
    expect((await readProject({ dir, env: {} })).project?.config.functions.a?.replicas).toBe(2);
  });

  it('names the environment variable a wrong value came from, and says to fix it there', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('functions:', '  a:', '    prefetch: ${PREFETCH}', '    timeout: ${TIMEOUT:-banana}', '    replicas: 2x'),
    });
    const found = (await problems(dir, { PREFETCH: 'abc' })).map((e) => ({ ...summary(e, dir), message: e.message, hint: e.details.hint }));
    expect(found.map((e) => e.key)).toEqual(['functions.a.prefetch', 'functions.a.timeout', 'functions.a.replicas']);
    expect(found[0]).toMatchObject({ line: 3, message: expect.stringContaining('"abc"') });
    expect(found[0]!.hint).toMatch(/^the value comes from the environment \(\$\{PREFETCH\}\): set PREFETCH /);
    expect(found[1]!.hint).toMatch(/^the value comes from the default written in \$\{TIMEOUT\} \(TIMEOUT unset\): fix the default after `:-`, or set TIMEOUT/);
    // A value written in the file keeps its own hint alone.
    expect(found[2]!.hint).not.toContain('environment');
    expect(found[2]!.hint).toBeTruthy();
  });

  it('asks a bare-number rateLimit for its period, rather than to quote it', async () => {
    const [bare, ...more] = await yamlProblems('functions:', '  a:', '    rateLimit: 100');
    expect(more).toEqual([]);
    expect(bare).toMatchObject({ key: 'functions.a.rateLimit', line: 3 });
    expect(bare!.hint).toBe('add the period: `rateLimit: 100/s` or `rateLimit: 100/min`');
  });

  it('gives each wrong value a line, a column and a hint saying what to write', async () => {
    const found = await yamlProblems(
      'exchanges: [events]',
      'queues:',
      '  jobs: { maxLength: 1e400 }',
      'functions:',
      '  a:',
      '    timeout: 5 minutes',
      '    retry: { delay: 2 secs }',
      '    rateLimit: 50 per second',
      '    queue: 5',
      '    memory: lots',
      '  b: fast',
      'bindings:',
      '  - "events[x] => jobs"',
      '  - { exchange: amq.topic, queue: jobs, routingKey: 5 }',
      '  - { exchange: amq.topic, queue: jobs, routingKey: [] }',
    );
    expect(found.length).toBe(11);
    for (const e of found) {
      expect(e.line, `${e.key}: ${e.message}`).toBeGreaterThan(0);
      expect(e.column, `${e.key}: ${e.message}`).toBeGreaterThan(0);
      expect(e.hint, `${e.key}: ${e.message}`).toBeTruthy();
    }
    const hintOf = (key: string) => found.find((e) => e.key === key)?.hint;
    expect(hintOf('functions.a.timeout')).toContain('`timeout: 5m`');
    expect(hintOf('functions.a.retry.delay')).toContain('`delay: 2s`');
    expect(hintOf('functions.a.queue')).toContain('`queue: "5"`');
    expect(hintOf('bindings[1].routingKey')).toContain('`routingKey: "5"`');
    expect(hintOf('bindings[0]')).toContain('->');
    expect(found.find((e) => e.key === 'bindings[2].routingKey')?.message).toBe('got an empty list');
    // 1e400 is Infinity once read: not "got null"
    expect(found.find((e) => e.key === 'queues.jobs.maxLength')?.message).toBe('got a number too large to hold');
  });

  it('reports an entry with an empty name once, at its key', async () => {
    const found = await yamlProblems('functions:', '  "": { replicas: 1 }', '  a: {}');
    expect(found).toMatchObject([{ code: 'WARREN_E_CONFIG_TYPE', line: 2, column: 3, key: 'functions', message: 'an entry with an empty name' }]);
    expect(found[0]?.hint).toBeTruthy();
  });

  it('says to quote a cron that starts with `*`, once, instead of talking about aliases expanding', async () => {
    for (const schedule of ['*/5 * * * *', '*/5', '* * * * *']) {
      const found = await yamlProblems('functions:', '  a:', `    schedule: ${schedule}`);
      expect(found, schedule).toHaveLength(1);
      expect(found[0], schedule).toMatchObject({ code: 'WARREN_E_CONFIG_SYNTAX', line: 3 });
      expect(found[0]?.message, schedule).not.toContain('expand too far');
      expect(found[0]?.hint, schedule).toContain('must be quoted');
    }
  });
});

describe('bindings and outputs: one message each, with a hint that fits', () => {
  const BUILTINS = 'RabbitMQ predeclares only amq.direct, amq.fanout, amq.topic, amq.headers and amq.match';

  it('does not tell to declare an amq. exchange RabbitMQ does not predeclare, which it would refuse', async () => {
    const found = await yamlProblems(
      'queues:',
      '  q: {}',
      'exchanges:',
      '  events: { type: topic }',
      '  amq.custom: { type: topic }',
      'bindings:',
      '  - { exchange: amq.nonexistent, queue: q }',
      '  - "amq.topc[x] -> q"',
      '  - { exchange: events, toExchange: amq.other }',
      'functions:',
      '  a: { output: { exchange: amq.nope } }',
    );
    expect(found.map((e) => [e.key, e.message])).toEqual([
      ['exchanges.amq.custom', 'exchange name "amq.custom" is reserved by RabbitMQ'],
      ['bindings[0].exchange', 'binding to exchange "amq.nonexistent", which RabbitMQ does not predeclare'],
      ['bindings[1]', 'binding to exchange "amq.topc", which RabbitMQ does not predeclare'],
      ['bindings[2].toExchange', 'binding to exchange "amq.other" (toExchange), which RabbitMQ does not predeclare'],
      ['functions.a.output.exchange', 'output to exchange "amq.nope", which RabbitMQ does not predeclare'],
    ]);
    expect(found[0]?.hint).toBe(
      'RabbitMQ refuses to declare a name starting with `amq.` (its own exchanges are amq.direct, amq.fanout, amq.topic, amq.headers and amq.match); pick another name',
    );
    for (const e of found.slice(1)) expect(e.hint, e.key).toContain(BUILTINS);
    for (const e of found) expect(e.hint, e.key).not.toMatch(/declare it under exchanges|use the built-in/);
    expect(found[2]?.hint).toMatch(/^did you mean `amq\.topic`\? /);
  });

  it('says the default exchange cannot be bound for exchange: "", and a binding that is no mapping how to write one', async () => {
    const found = await yamlProblems(
      'queues:',
      '  q: {}',
      'bindings:',
      '  - { exchange: "", queue: q }',
      '  - { exchange: amq.topic, queue: "" }',
      '  - 42',
      '  - true',
    );
    expect(found.map((e) => [e.key, e.message])).toEqual([
      ['bindings[0].exchange', 'got ""'],
      ['bindings[1].queue', 'got ""'],
      ['bindings[2]', 'got 42'],
      ['bindings[3]', 'got true'],
    ]);
    expect(found[0]?.hint).toMatch(/^the default exchange "" cannot be bound: every queue already receives/);
    expect(found[1]?.hint).toBe('write the name of the queue to bind');
    for (const e of found.slice(2)) expect(e.hint).toMatch(/^write rascal's shorthand with an arrow/);
    for (const e of found) expect(e.hint, e.key).not.toMatch(/leave `|quote it/);
  });
});

describe('rascal.json errors: where and what to do', () => {
  it('points at a comment where it starts, without quoting the whole file', async () => {
    const [error, ...rest] = await rascalProblems('// local broker\n{ "vhosts": {} }\n');
    expect(rest).toEqual([]);
    expect(error).toMatchObject({
      code: 'WARREN_E_CONFIG_SYNTAX',
      file: 'rascal.json',
      line: 1,
      column: 1,
      message: "JSON does not parse: Unexpected token '/'",
    });
    const [quoted] = await rascalProblems('{\n  "vhosts": {\n    "/": { "connection": { "url": \'amqp://x\' } }\n  }\n}\n');
    expect(quoted).toMatchObject({ line: 3, column: 35 });
  });

  it('gives a connection URL that is not amqp:// its line and a hint, and rascal.json that is not an object a hint', async () => {
    const [url] = await rascalProblems('{\n  "vhosts": {\n    "/": {\n      "connection": { "url": "http://broker:15672" }\n    }\n  }\n}\n');
    expect(url).toMatchObject({ code: 'WARREN_E_CONFIG_TYPE', file: 'rascal.json', line: 4, column: 7, key: 'vhosts./.connection' });
    expect(url?.hint).toContain('amqp://');
    const [list] = await rascalProblems('[]');
    expect(list?.hint).toContain('{}');
  });
});

describe('message schema errors: at the wrong keyword or value', () => {
  it('points inside an inline schema and a schema file, and suggests the keyword meant', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'schemas/b.yaml': lines('type: object', 'properties:', '  id:', '    type: string', '    minLenght: 1'),
      'queues.yaml': lines(
        'functions:',
        '  a:',
        '    schema:',
        '      type: object',
        '      properties: { id: { type: strin } }',
        '  b: { schema: schemas/b.yaml }',
      ),
    });
    const found = (await problems(dir)).map((e) => ({ ...summary(e, dir), message: e.message, hint: e.details.hint }));
    expect(found).toMatchObject([
      { code: 'WARREN_E_SCHEMA_INVALID', file: 'queues.yaml', line: 5, column: 33, key: 'functions.a.schema.properties.id.type' },
      { code: 'WARREN_E_SCHEMA_INVALID', file: 'schemas/b.yaml', line: 5, column: 5, key: 'properties.id.minLenght' },
    ]);
    expect(found[0]?.message).toContain('got "strin" (expected one of array, boolean');
    expect(found[1]?.hint).toBe('did you mean `minLength`?');
  });
});

describe('YAML merge keys', () => {
  it('merges `<<: *defaults` (and lists of them) under what the entry writes itself, with anchors under x- keys', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines(
        'x-defaults: &defaults',
        '  prefetch: 20',
        '  retry: { attempts: 4, delay: 1s }',
        'x-fast: &fast',
        '  prefetch: 50',
        '  timeout: 5s',
        'functions:',
        '  a:',
        '    <<: [*fast, *defaults]',
        '  b:',
        '    <<: *defaults',
        '    prefetch: 3',
      ),
    });
    const config = await load(dir);
    expect(config.functions.a).toMatchObject({ prefetch: 50, timeout: 5_000, retry: { attempts: 4, delay: 1_000 } });
    expect(config.functions.b).toMatchObject({ prefetch: 3, timeout: 30_000, retry: { attempts: 4, delay: 1_000 } });
  });

  it('points a problem in a merged setting at the anchor, and refuses a merge of something that is not a mapping', async () => {
    const found = await yamlProblems('x-defaults: &defaults', '  replicas: many', 'functions:', '  a:', '    <<: *defaults', '  c:', '    <<: 7');
    expect(found).toContainEqual(expect.objectContaining({ code: 'WARREN_E_CONFIG_TYPE', line: 2, column: 13, key: 'functions.a.replicas' }));
    expect(found).toContainEqual(expect.objectContaining({ code: 'WARREN_E_CONFIG_TYPE', line: 7, column: 9, key: 'functions.c.<<' }));
  });

  it("says where anchors go when a top-level key is not one of Warren's", async () => {
    const found = await yamlProblems('defaults: &d { replicas: 2 }', 'functions:', '  a: *d');
    expect(found).toMatchObject([{ code: 'WARREN_E_CONFIG_UNKNOWN_KEY', line: 1, column: 1, key: 'defaults' }]);
    expect(found[0]?.hint).toContain('starts with x-');
  });
});

describe('a queue named after its handler file', () => {
  it('says to rename the file (or set queue:) when the file name is a reserved queue name', async () => {
    const dir = await project({ 'functions/amq.audit.ts': handler });
    const [error] = await problems(dir);
    expect(error && summary(error, dir)).toMatchObject({ code: 'WARREN_E_CONFIG_CONFLICT', file: 'functions/amq.audit.ts', line: 1 });
    expect(error?.details.hint).toContain('rename functions/amq.audit.ts, or give it another `queue:` in queues.yaml');
  });
});

describe('handler files that are not read', () => {
  it('names a .cjs file in functions/ instead of skipping it without a word', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.cjs': 'module.exports = async () => 1;\n',
      'queues.yaml': lines('functions:', '  b: {}'),
    });
    const [missing, ...rest] = await problems(dir);
    expect(rest).toEqual([]);
    expect(missing?.code).toBe('WARREN_E_HANDLER_MISSING');
    expect(missing?.details.hint).toContain('functions/b.cjs is not read');
    expect(missing?.details.hint).toContain('rename it functions/b.js');
    const alone = await project({ 'functions/c.tsx': handler });
    expect((await problems(alone))[0]?.details.hint).toContain('functions/c.tsx is not read');
    const beside = await project({ 'functions/a.ts': handler, 'functions/d.cjs': handler });
    expect((await readProject({ dir: beside, env: {} })).warnings).toEqual([
      'functions/d.cjs is not read: handler files end in .ts, .mts, .js or .mjs (rename it functions/d.js)',
    ]);
  });
});

describe('a duration written as a bare number', () => {
  it('warns, at its key, that a bare number under a second is milliseconds, and not when a unit says so', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines(
        'functions:',
        '  a:',
        '    timeout: 30',
        '    retry: { attempts: 2, delay: 5, maxDelay: 60000 }',
        '  b:',
        '    timeout: 30ms',
        '    batch: { size: 5, window: 200 }',
      ),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    expect(read.project?.config.functions.a?.timeout).toBe(30);
    expect(read.warnings).toEqual([
      'queues.yaml:3:5 functions.a.timeout: 30 is read as 30 ms (a bare number is milliseconds): write `30s` for seconds, or `30ms` to keep it and drop this warning',
      'queues.yaml:4:27 functions.a.retry.delay: 5 is read as 5 ms (a bare number is milliseconds): write `5s` for seconds, or `5ms` to keep it and drop this warning',
      'queues.yaml:7:23 functions.b.batch.window: 200 is read as 200 ms (a bare number is milliseconds): write `200s` for seconds, or `200ms` to keep it and drop this warning',
    ]);
  });

  it("warns, at its key, of a timeout past RabbitMQ's default consumer_timeout, and says how to raise it", async () => {
    const dir = await project({
      'functions/long.ts': handler,
      'functions/short.ts': handler,
      'queues.yaml': lines('functions:', '  long:', '    timeout: 2h', '  short:', '    timeout: 30m'),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    expect(read.warnings).toEqual([
      "queues.yaml:3:5 functions.long.timeout: 2h is past RabbitMQ's default consumer_timeout (30m): a handler still running then has its message taken back by the broker, with every other message its replica holds, each counted a delivery; raise consumer_timeout on the broker (rabbitmq.conf: `consumer_timeout = 7260000`), or keep timeout at 30m or less",
    ]);
  });

  it('names a queues.yml or Queues.yaml it does not read, whose settings would be dropped without a word', async () => {
    for (const name of ['queues.yml', 'Queues.yaml', 'queue.yaml']) {
      const dir = await project({ 'functions/hello.ts': handler, [name]: lines('functions:', '  hello: { replicas: 3 }') });
      const read = await readProject({ dir, env: {} });
      expect(read.project?.config.functions.hello?.replicas).toBe(1);
      expect(read.warnings).toEqual([
        `${name} is not read: Warren reads queues.yaml (rename it queues.yaml); until then every function runs with the defaults`,
      ]);
    }
    const both = await project({ 'functions/hello.ts': handler, 'queues.yaml': lines('functions:', '  hello: {}'), 'queues.yml': '' });
    expect((await readProject({ dir: both, env: {} })).warnings).toEqual([]);
  });

  it('gives its warnings beside the errors, not only once the errors are fixed', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'rascal.json': '{ "vhost": "orders" }\n',
      'queues.yaml': lines('functions:', '  a: { timeout: 30 }', '  b: { prefetch: 0 }'),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors.map((e) => e.details.key)).toEqual(['functions.b.prefetch']);
    expect(read.warnings).toEqual([
      'queues.yaml:2:8 functions.a.timeout: 30 is read as 30 ms (a bare number is milliseconds): write `30s` for seconds, or `30ms` to keep it and drop this warning',
      expect.stringContaining('rascal.json:1:3 vhost: not a rascal option'),
    ]);
  });
});

describe('queue arguments a quorum queue does not take', () => {
  it('refuses x-max-priority and lazy mode on the default quorum type at the argument, with the classic way out', async () => {
    const found = await yamlProblems('queues:', '  jobs:', '    arguments: { x-max-priority: 10, x-queue-mode: lazy, x-expires: 60000 }');
    expect(found.map(({ code, line, key }) => ({ code, line, key }))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', line: 3, key: 'queues.jobs.arguments.x-max-priority' },
      { code: 'WARREN_E_CONFIG_CONFLICT', line: 3, key: 'queues.jobs.arguments.x-queue-mode' },
    ]);
    expect(found[0]?.message).toContain('a quorum queue does not take x-max-priority');
    expect(found[0]?.hint).toContain('set `type: classic` on queues.jobs');
  });

  it('takes them on a classic queue', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines('queues:', '  jobs: { type: classic, arguments: { x-max-priority: 10, x-queue-mode: lazy } }'),
    });
    expect((await load(dir)).queues.jobs?.arguments).toEqual({ 'x-max-priority': 10, 'x-queue-mode': 'lazy' });
  });
});

describe('queue arguments Warren sets itself', () => {
  it('refuses one written with another value at the argument, naming the setting that says it, instead of dropping it at declare', async () => {
    const found = await yamlProblems(
      'queues:',
      '  jobs:',
      '    arguments: { x-dead-letter-exchange: nonexist, x-delivery-limit: 1, x-max-length: 5, x-expires: 60000 }',
      '    maxLength: 10',
      'functions:',
      '  a: { queue: jobs }',
    );
    expect(found.map(({ code, line, key }) => ({ code, line, key }))).toEqual([
      { code: 'WARREN_E_CONFIG_CONFLICT', line: 3, key: 'queues.jobs.arguments.x-dead-letter-exchange' },
      { code: 'WARREN_E_CONFIG_CONFLICT', line: 3, key: 'queues.jobs.arguments.x-delivery-limit' },
      { code: 'WARREN_E_CONFIG_CONFLICT', line: 3, key: 'queues.jobs.arguments.x-max-length' },
    ]);
    expect(found[0]?.message).toContain(
      'Warren sets x-dead-letter-exchange on queue jobs itself (to "", from functions.a.deadLetter), so "nonexist" would be ignored',
    );
    expect(found[0]?.hint).toContain('set `deadLetter: false` on functions.a');
    expect(found[1]?.hint).toContain('set functions.a.redeliveryLimit');
    expect(found[2]?.message).toContain('(to 10, from queues.jobs.maxLength), so 5 would be ignored');
  });

  it('takes them where Warren leaves them alone: a dead-letter exchange of your own with deadLetter: false, or a queue no function consumes', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  dlx: { type: fanout }',
        'queues:',
        '  jobs: { arguments: { x-dead-letter-exchange: dlx } }',
        '  parked: { arguments: { x-dead-letter-exchange: dlx, x-delivery-limit: 3 } }',
        'functions:',
        '  a: { queue: jobs, deadLetter: false }',
      ),
    });
    const config = await load(dir);
    expect(config.queues.jobs?.arguments).toEqual({ 'x-dead-letter-exchange': 'dlx' });
  });
});

describe('a function queue that is most likely a typo', () => {
  it('warns at functions.x.queue when the queue is declared nowhere, bound by nothing and one typo from a declared queue', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'functions/c.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  ex: { type: direct }',
        'queues:',
        '  my_app: { type: classic }',
        'bindings:',
        '  - { exchange: ex, queue: my_app }',
        '  - { exchange: ex, queue: my_aps }',
        'functions:',
        '  a: { queue: my_ap }',
        '  b: { queue: my_aps }',
        '  c: { queue: jobs }',
      ),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    expect(read.warnings).toEqual([
      'queues.yaml:9:8 functions.a.queue: queue my_ap is not under queues: and no binding leads to it, so Warren declares it empty and it gets only messages sent to it by name; did you mean my_app?',
    ]);
  });
});

describe('an output through the default exchange', () => {
  it('warns when its routing key names no queue of the project, or is missing, and not when it names one', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'functions/c.ts': handler,
      'queues.yaml': lines(
        'queues:',
        '  results: {}',
        'functions:',
        "  a: { output: { exchange: '', routingKey: result } }",
        "  b: { output: { exchange: '' } }",
        "  c: { output: { exchange: '', routingKey: results } }",
      ),
    });
    const read = await readProject({ dir, env: {} });
    expect(read.errors).toEqual([]);
    expect(read.warnings).toEqual([
      'queues.yaml:4:8 functions.a.output: output to the default exchange with routingKey result, a queue this project does not declare: unless it exists on the broker, every result is dropped as unroutable; did you mean results?',
      'queues.yaml:5:8 functions.b.output: output to the default exchange with no routingKey: the default exchange routes by queue name, so every result would be dropped; set routingKey to the queue that should get the results',
    ]);
  });
});

describe('handler: naming a file that is not a handler', () => {
  it('refuses a path that is not JavaScript or TypeScript at the key, rather than building it', async () => {
    const found = await yamlProblems('functions:', '  a: { handler: queues.yaml }', '  b: { handler: /etc/hostname }');
    expect(found.map(({ code, line, column, key }) => ({ code, line, column, key }))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', line: 2, column: 17, key: 'functions.a.handler' },
      { code: 'WARREN_E_CONFIG_TYPE', line: 3, column: 17, key: 'functions.b.handler' },
    ]);
    expect(found[0]?.message).toBe('handler queues.yaml is not a JavaScript or TypeScript file');
  });
});

describe('hints a person can follow', () => {
  it('gives memory a size, an empty schedule a cron expression and an empty timezone a zone', async () => {
    const found = await yamlProblems('functions:', '  a: { memory: 10, schedule: "", timezone: "" }');
    expect(found.map((p) => [p.key, p.hint])).toEqual([
      ['functions.a.memory', 'e.g. `memory: 256MiB` or `memory: 1GiB`'],
      ['functions.a.schedule', 'write a cron expression, e.g. `schedule: "0 2 * * *"`, or leave `schedule` out'],
      ['functions.a.timezone', 'write an IANA time zone, e.g. `timezone: Europe/Paris`, or leave `timezone` out (UTC)'],
    ]);
  });

  it('says a memory too small as it was written, not as the whole MiB it rounds up to', async () => {
    const [small] = await yamlProblems('functions:', '  a: { memory: 1KiB }');
    expect(small).toMatchObject({ key: 'functions.a.memory', message: 'got 1KiB', hint: 'e.g. `memory: 256MiB`' });
  });
});
