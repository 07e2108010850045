/**
 * Hostile `queues.yaml`, `rascal.json` and `functions/` through the real CLI: an alias bomb, huge
 * files, duplicate keys, tabs, absurd numbers, names RabbitMQ would refuse, odd file names, and a
 * password full of URL-special characters. Each gets exit 2 within seconds with the file and line
 * named (or runs, for the odd but valid file names), and the password never appears in any output.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createProject, runWarren, type Project } from '../helpers/runtime';

const execFileAsync = promisify(execFile);

const noop = 'export default async () => undefined;\n';

/** `warren ARGS`, killed after `killAfterMs` (a hang fails the test instead of stalling the suite); `out` is stdout and stderr. */
async function warren(args: string[], env: Record<string, string> = {}, killAfterMs = 20_000): Promise<{ code: number | null; out: string; killed: boolean }> {
  const r = await runWarren(args, { WARREN_LOG_LEVEL: 'debug', ...env }, undefined, killAfterMs);
  return { code: r.code, out: r.stdout + r.stderr, killed: r.killed };
}

async function check(project: Project, env: Record<string, string> = {}) {
  const result = await warren(['check', '--dir', project.dir], env);
  expect(result.killed, result.out).toBe(false);
  return result;
}

function expectRefused(result: { code: number | null; out: string }, ...located: RegExp[]) {
  expect(result.code, result.out).toBe(2);
  for (const where of located) expect(result.out).toMatch(where);
  expect(result.out).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
}

describe('hostile config through the CLI', () => {
  let project: Project | undefined;
  afterEach(async () => {
    await project?.remove();
    project = undefined;
  });

  it('refuses a YAML alias bomb of a few hundred bytes at once, naming the line', async () => {
    const levels = 'abcdefghi'.split('');
    const lines = [`${levels[0]}: &${levels[0]} [${Array(9).fill('"lol"').join(',')}]`];
    for (let i = 1; i < levels.length; i++)
      lines.push(
        `${levels[i]}: &${levels[i]} [${Array(9)
          .fill(`*${levels[i - 1]}`)
          .join(',')}]`,
      );
    const bomb = lines.join('\n') + '\n';
    expect(bomb.length).toBeLessThan(500);
    project = await createProject(bomb, { echo: noop });
    expectRefused(await check(project), /queues\.yaml:2:\d+ YAML aliases expand too far/, /hint: use fewer YAML aliases/);
    // every command that loads the config
    expectRefused(await warren(['start', '--dir', project.dir], { WARREN_ADMIN_PORT: '0' }), /queues\.yaml:2:\d+ YAML aliases expand too far/);
    // publish needs only the connection: it names the problem, and goes on with the connection.
    const published = await warren(['publish', 'x', 'y', '{}', '--dir', project.dir]);
    expect(published.out).toMatch(/warning: the project has 1 problem; going on with what could be read:\n\s+queues\.yaml:2:\d+ YAML aliases expand too far/);
    expect(published.out).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  });

  it('refuses a bomb inside a YAML schema file too', async () => {
    const bomb = [
      'a: &a [1,1,1,1,1,1,1,1,1]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ].join('\n');
    project = await createProject('functions:\n  echo: { schema: schema.yaml }\n', { echo: noop });
    await writeFile(join(project.dir, 'schema.yaml'), bomb);
    expectRefused(await check(project), /schema\.yaml.*does not parse: Excessive alias count/);
  });

  it('refuses queues.yaml and rascal.json over 1 MiB with a clear error', async () => {
    project = await createProject('functions:\n  echo: {}\n' + '# padding\n'.repeat(120_000), { echo: noop });
    expectRefused(await check(project), /queues\.yaml:1:1 file is \d+ bytes, over the 1024 KiB Warren reads/);
    await writeFile(join(project.dir, 'queues.yaml'), 'functions:\n  echo: {}\n');
    await writeFile(join(project.dir, 'rascal.json'), JSON.stringify({ vhosts: { '/': { pad: 'x'.repeat(1_200_000) } } }));
    expectRefused(await check(project), /rascal\.json:1:1 file is \d+ bytes, over the 1024 KiB/);
  });

  it('check refuses a handler with no default export, naming the file and the export to make default', async () => {
    project = await createProject('functions:\n  echo: {}\n', { echo: noop, nodef: 'export const handler = async () => undefined;\n' });
    expectRefused(
      await check(project),
      /functions\/nodef\.ts:1 nodef\.ts has no default export function \(found named export handler\)/,
      /hint: export it as the default: `export default handler;`/,
    );
  });

  it('refuses a queues.yaml or rascal.json that is a folder or a link to nothing, with what to do', async () => {
    project = await createProject('functions:\n  echo: {}\n', { echo: noop });
    await rm(join(project.dir, 'queues.yaml'));
    await mkdir(join(project.dir, 'queues.yaml'));
    expectRefused(await check(project), /queues\.yaml is a folder, not a file/, /hint: remove the folder or rename it/);
    await rm(join(project.dir, 'queues.yaml'), { recursive: true });
    await symlink(join(project.dir, 'gone.yaml'), join(project.dir, 'queues.yaml'));
    expectRefused(await check(project), /queues\.yaml is a symbolic link to .*gone\.yaml, which does not exist/);
    await rm(join(project.dir, 'queues.yaml'));
    await mkdir(join(project.dir, 'rascal.json'));
    expectRefused(await check(project), /rascal\.json is a folder, not a file/);
    await rm(join(project.dir, 'rascal.json'), { recursive: true });
    // A named pipe no one writes to: opening it would wait forever.
    await execFileAsync('mkfifo', [join(project.dir, 'rascal.json')]);
    expectRefused(await check(project), /rascal\.json is a named pipe, not a file/, /hint: write the configuration into a regular file named rascal\.json/);
  });

  it('refuses duplicate keys in queues.yaml and rascal.json, and tabs, naming the line', async () => {
    project = await createProject('functions:\n  echo:\n    replicas: 1\n    replicas: 2\n', { echo: noop });
    expectRefused(
      await check(project),
      /queues\.yaml:4:5 functions\.echo\.replicas: `replicas` is written twice in this mapping, first at line 3, column 5/,
      /hint: a key may appear once/,
    );

    await writeFile(join(project.dir, 'queues.yaml'), 'functions:\n  echo: {}\n');
    await writeFile(join(project.dir, 'rascal.json'), '{\n  "vhosts": {\n    "/": {}\n  },\n  "vhosts": {}\n}\n');
    expectRefused(await check(project), /rascal\.json:5:\d+ vhosts: "vhosts" appears twice in the same object, first at line 2, column 3/);

    await writeFile(join(project.dir, 'rascal.json'), '{}');
    await writeFile(join(project.dir, 'queues.yaml'), 'functions:\n\techo:\n\t\treplicas: 2\n');
    expectRefused(await check(project), /queues\.yaml:2:\d+ YAML does not parse/, /hint: indent with spaces/);
  });

  it('refuses absurd numbers, each at its line', async () => {
    const yaml = [
      'functions:',
      '  echo:',
      '    replicas: 1e9',
      '    prefetch: 100000',
      '    retry: { attempts: 1000000 }',
      '    redeliveryLimit: 99999999',
      '    timeout: 1e12',
      '',
    ].join('\n');
    project = await createProject(yaml, { echo: noop });
    expectRefused(
      await check(project),
      /queues\.yaml:3:\d+ functions\.echo\.replicas: got 1000000000 \(expected an integer from 0 to 256\)/,
      /queues\.yaml:4:\d+ functions\.echo\.prefetch: .*an integer from 1 to 10000/,
      /queues\.yaml:5:\d+ functions\.echo\.retry\.attempts: .*an integer from 1 to 100\b/,
      /queues\.yaml:6:\d+ functions\.echo\.redeliveryLimit: .*an integer from 1 to 1000\b/,
      /queues\.yaml:7:\d+ functions\.echo\.timeout: .*at most 1d/,
    );
    // durations and sizes written as text are read, then bounded
    const text = ['functions:', '  echo:', '    timeout: 400d', '    retry: { delay: 90d, maxDelay: 100d }', '    maxBodySize: 10GiB', ''].join('\n');
    await writeFile(join(project.dir, 'queues.yaml'), text);
    expectRefused(
      await check(project),
      /queues\.yaml:3:\d+ functions\.echo\.timeout: got 400d \(expected at most 1d\)/,
      /queues\.yaml:4:\d+ functions\.echo\.retry\.delay: got 90d \(expected at most 1d\)/,
      /queues\.yaml:4:\d+ functions\.echo\.retry\.maxDelay: got 100d/,
      /queues\.yaml:5:\d+ functions\.echo\.maxBodySize: got 10GiB \(expected at most 128MiB\)/,
    );
  });

  it('refuses exchange, queue and derived names over 255 bytes at check, not as a topology mismatch at start', async () => {
    const long = 'q'.repeat(256);
    const yaml = [
      'exchanges:',
      `  ${'x'.repeat(300)}: { type: topic }`,
      'queues:',
      `  ${long}: {}`,
      'functions:',
      '  echo:',
      `    queue: ${'e'.repeat(252)}`,
      '',
    ].join('\n');
    project = await createProject(yaml, { echo: noop });
    const result = await check(project);
    expectRefused(
      result,
      /queues\.yaml:2:3 .*: exchange name "x{40}…" \(300 bytes\) is too long/,
      /queues\.yaml:4:3 .*: queue name "q{40}…" \(256 bytes\) is too long/,
      /queues\.yaml:7:\d+ functions\.echo\.queue: queue name "e{40}…" \(252 bytes\) of function "echo" \(4 bytes\) is too long: Warren also declares "e{40}…" \(\d+ bytes\)/,
    );
    expect(result.out).not.toContain('TOPOLOGY_MISMATCH');
  });

  it('runs odd but valid handler file names, skips hidden, declaration and test files, and refuses names RabbitMQ would not take', async () => {
    project = await createProject('', {});
    for (const name of ['my fn', 'café', 'a.b', '.hidden', 'types.d', '_lib', 'x.test']) await writeFile(join(project.dir, 'functions', `${name}.ts`), noop);
    await writeFile(join(project.dir, 'functions', 'notes.txt'), 'not a handler');
    const ok = await check(project);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/ok: 3 functions/);
    for (const shown of ['my fn: queue my fn', 'café: queue café', 'a.b: queue a.b']) expect(ok.out).toContain(shown);

    await writeFile(join(project.dir, 'functions', 'amq.reserved.ts'), noop);
    await writeFile(join(project.dir, 'functions', 'orders.dead.ts'), noop);
    await writeFile(join(project.dir, 'functions', 'line\nbreak.ts'), noop);
    await writeFile(join(project.dir, 'functions', `${'n'.repeat(250)}.ts`), noop);
    await writeFile(join(project.dir, 'functions', 'star*.ts'), noop);
    const refused = await check(project);
    expectRefused(
      refused,
      /queue name "amq\.reserved" is reserved/,
      /queue name "orders\.dead" is reserved/,
      /handler file name "line\\nbreak\.ts" contains control characters/,
      /queue name "n{40}…" \(250 bytes\) of function .* is too long: Warren also declares/,
      /handler file name "star\*\.ts" contains \*.*\n\s+hint: rename the file without \* \(e\.g\. functions\/star-\.ts\)/,
    );
    // Each problem once, in the project's words: not a file system error about the build's own files.
    expect(refused.out).not.toMatch(/ENAMETOOLONG|outdir|\.tmp/);
  });

  it('never prints a password holding @ : / % # ? from AMQP_URL or rascal.json', async () => {
    const password = 'S3cr@t:/%#x?y';
    project = await createProject('functions:\n  echo: {}\n', { echo: noop });
    const raw = `amqp://guest:${password}@127.0.0.1:5672/`;
    const encoded = `amqp://guest:${encodeURIComponent(password)}@127.0.0.1:5672/`;
    const fragments = [password, encodeURIComponent(password), 'S3cr', 't:/%#x', '#x?y', 'x?y'];
    const outputs: string[] = [];

    // a raw password makes the URL malformed: exit 2, the URL shown without it
    const malformed = await check(project, { AMQP_URL: raw });
    expectRefused(malformed, /AMQP_URL: amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5672\/ is not a valid URL|AMQP_URL/);
    outputs.push(malformed.out);
    // a well-encoded wrong password reaches the broker, which refuses it: every command says so without it
    outputs.push((await warren(['publish', 'amq.topic', 'k', '{}', '--dir', project.dir], { AMQP_URL: encoded })).out);
    outputs.push((await warren(['dlq', 'list', 'echo', '--dir', project.dir], { AMQP_URL: encoded })).out);
    const started = await warren(['start', '--dir', project.dir], { AMQP_URL: encoded, WARREN_ADMIN_PORT: '0' }, 4_000);
    expect(started.out).toMatch(/retrying|ACCESS_REFUSED|refused/i);
    outputs.push(started.out);
    // the same password in rascal.json's connection attributes
    await writeFile(join(project.dir, 'rascal.json'), JSON.stringify({ vhosts: { '/': { connection: { hostname: '127.0.0.1', user: 'guest', password } } } }));
    outputs.push((await warren(['publish', 'amq.topic', 'k', '{}', '--dir', project.dir])).out);
    const fromRascal = await warren(['start', '--dir', project.dir], { WARREN_ADMIN_PORT: '0' }, 4_000);
    outputs.push(fromRascal.out);

    for (const out of outputs) {
      expect(out.length).toBeGreaterThan(0);
      for (const fragment of fragments) expect(out, `printed ${fragment}`).not.toContain(fragment);
    }
  }, 60_000);
});
