/**
 * One `warren check` lists every problem it can find: shape errors, the semantic problems of the
 * entries whose shape is valid, and handler build errors, without follow-ons of the shape errors.
 */
import { describe, expect, it } from 'vitest';
import { checkCommand } from '../../runtime/cli/check';
import { WarrenErrors, type WarrenError } from '../../runtime/errors';
import { handler, problems, project, summary } from '../fixtures/config/project';

const lines = (...l: string[]): string => l.join('\n') + '\n';
const brokenHandler = 'export default async (m: unknown) => { return m +; }\n';

async function checkProblems(dir: string): Promise<readonly WarrenError[]> {
  try {
    await checkCommand(dir, {});
  } catch (err) {
    if (err instanceof WarrenErrors) return err.errors;
    throw err;
  }
  throw new Error('expected check to refuse the project');
}

describe('loadConfig: shape and semantic problems in one go', () => {
  it('reports a binding to an undeclared exchange and two functions on one queue beside a misspelt key', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'functions/c.ts': handler,
      'queues.yaml': lines(
        'functions:',
        '  a: { replica: 2 }',
        '  b: { queue: shared }',
        '  c: { queue: shared, schedule: "0 25 * * *" }',
        'bindings:',
        '  - { exchange: nowhere, queue: a }',
      ),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 2, column: 8, key: 'functions.a.replica' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 4, column: 15, key: 'functions.c.queue' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 4, column: 33, key: 'functions.c.schedule' },
      { code: 'WARREN_E_CONFIG_REFERENCE', file: 'queues.yaml', line: 6, column: 17, key: 'bindings[0].exchange' },
    ]);
  });

  it('reports nothing that only follows from an entry with a shape error', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'exchanges:',
        '  events: { type: topik }', // set aside: still declared for the binding and the output below
        'queues:',
        '  jobs: { type: classic, maxLenght: 3 }',
        'functions:',
        '  a: { output: { exchange: events } }',
        '  report: { handlr: functions/a.ts }', // no handler file of its own: the misspelt key is the problem
        '  mailer: { queue: outbox, replicas: two }', // its missing file is a problem of its own: reported too
        'bindings:',
        '  - { exchange: events, queue: jobs }',
        '  - { exchange: events, queue: outbox }',
        '  - { exchange: events, queue: a, routingKey: 5 }',
      ),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 19, key: 'exchanges.events.type' },
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 4, column: 26, key: 'queues.jobs.maxLenght' },
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 7, column: 13, key: 'functions.report.handlr' },
      { code: 'WARREN_E_HANDLER_MISSING', file: 'queues.yaml', line: 8, column: 3, key: 'functions.mailer' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 8, column: 38, key: 'functions.mailer.replicas' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 12, column: 47, key: 'bindings[2].routingKey' },
    ]);
  });

  it("still checks an entry's cron, time zone and schema beside its shape error, and not a setting whose own shape is wrong", async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'queues.yaml': lines(
        'functions:',
        '  a: { rateLimit: 100/h, schedule: "61 * * * *", timezone: Mars/Base, schema: { type: nope } }',
        '  b: { replicas: -1, schedule: 5, timezone: Mars/Base }',
      ),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 19, key: 'functions.a.rateLimit' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 36, key: 'functions.a.schedule' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 60, key: 'functions.a.timezone' },
      { code: 'WARREN_E_SCHEMA_INVALID', file: 'queues.yaml', line: 2, column: 87, key: 'functions.a.schema.type' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 18, key: 'functions.b.replicas' },
      // the time zone is not checked against a schedule that is not a string
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 32, key: 'functions.b.schedule' },
    ]);
  });

  it('checks every setting of an entry whose own value has the right shape beside its shape error: a batch size and a window at once', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'functions/b.ts': handler,
      'functions/c.ts': handler,
      'queues.yaml': lines(
        'functions:',
        '  a: { batch: { size: 0, window: 10m } }',
        '  b: { replicas: -1, timeout: 30d, memory: 1MiB, retry: { delay: 10s, maxDelay: 1s }, batch: { size: 2 }, output: { exchange: amq.topic } }',
        // judged against a setting whose shape is wrong: a maxDelay against its delay, a time zone against its schedule
        '  c: { retry: { delay: soon, maxDelay: 1ms }, schedule: 5, timezone: Mars/Base }',
      ),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 23, key: 'functions.a.batch.size' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 2, column: 34, key: 'functions.a.batch.window' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 18, key: 'functions.b.replicas' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 31, key: 'functions.b.timeout' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 44, key: 'functions.b.memory' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 3, column: 81, key: 'functions.b.retry.maxDelay' },
      { code: 'WARREN_E_CONFIG_CONFLICT', file: 'queues.yaml', line: 3, column: 107, key: 'functions.b.output' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 4, column: 24, key: 'functions.c.retry.delay' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 4, column: 57, key: 'functions.c.schedule' },
    ]);
  });

  it('does not report references into a section written under a misspelt or malformed key', async () => {
    const dir = await project({
      'functions/a.ts': handler,
      'queues.yaml': lines(
        'function:',
        '  a: { queue: inbox }',
        'exchanges: [events]',
        'bindings:',
        '  - { exchange: events, queue: inbox }',
        '  - { exchange: amq.topic, queue: inbox }',
      ),
    });
    expect((await problems(dir)).map((e) => summary(e, dir))).toEqual([
      { code: 'WARREN_E_CONFIG_UNKNOWN_KEY', file: 'queues.yaml', line: 1, column: 1, key: 'function' },
      { code: 'WARREN_E_CONFIG_TYPE', file: 'queues.yaml', line: 3, column: 12, key: 'exchanges' },
    ]);
  });
});

describe('warren check: handler build errors beside config errors', () => {
  it('lists a handler that does not build with the config problems, after a shape error and after a YAML syntax error', async () => {
    for (const yaml of [lines('functions:', '  a: { replicas: two }'), lines('functions:', '  a: { replicas: [1')]) {
      const dir = await project({ 'functions/a.ts': handler, 'functions/broken.ts': brokenHandler, 'queues.yaml': yaml });
      const found = (await checkProblems(dir)).map((e) => summary(e, dir));
      expect(found.at(-1)).toMatchObject({ code: 'WARREN_E_HANDLER_BUILD', file: 'functions/broken.ts', line: 1, column: 50 });
      expect(found.slice(0, -1).every((e) => e.file === 'queues.yaml')).toBe(true);
      expect(found.length).toBeGreaterThan(1);
    }
  });
});
