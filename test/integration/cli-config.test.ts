/**
 * Bad input gets a clear answer: `warren check` and `warren start` exit 2 with file, line and a hint,
 * never a stack trace, and declare nothing. `warren invoke` runs a handler without a broker.
 */
import { afterEach, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { createTestVhost, management, type TestVhost } from '../helpers/broker';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createProject, freePort, repoRoot, runWarren, waitFor, warrenBin, type Project } from '../helpers/runtime';

const echo = `
import type { Handler } from 'warren';
import { Reject } from 'warren';
const handler: Handler<{ n: number }> = async (message) => {
  if (message.n < 0) throw new Reject('negative');
  return { doubled: message.n * 2 };
};
export default handler;
`;

describe('warren check, start and invoke on a user project', () => {
  let project: Project | undefined;
  let vhost: TestVhost | undefined;
  afterEach(async () => {
    await project?.remove();
    await vhost?.cleanup();
    project = undefined;
    vhost = undefined;
  });

  it('--version prints the version of package.json, from any folder', async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    project = await createProject('functions: {}\n');
    for (const flag of ['--version', '-V']) {
      const out = await runWarren([flag], {}, project.dir);
      expect(out.code).toBe(0);
      expect(out.stdout.trim()).toBe(version);
    }
  });

  it('check passes a valid project and lists its functions', async () => {
    project = await createProject('functions:\n  echo: { replicas: 2 }\n', { echo });
    const result = await runWarren(['check', '--dir', project.dir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('echo: queue echo, replicas 2');
  });

  it('check warns when a project has no function at all', async () => {
    project = await createProject('queues:\n  jobs: { type: classic }\n', {});
    const result = await runWarren(['check', '--dir', project.dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok: 0 functions, 1 queue');
    expect(result.stderr).toContain('warning: no functions: `warren start` would declare the topology and run nothing');
  });

  it('a reader that stops early (| head) ends no command with a stack trace: check and invoke exit 0, start keeps running', async () => {
    project = await createProject('functions:\n  echo: { replicas: 1 }\n', { echo });
    const dir = project.dir;
    // The pipe's reading end is closed before the command writes: its first line meets EPIPE.
    const closedPipe = (args: string[], env: Record<string, string> = {}) => {
      const child = spawn(process.execPath, [warrenBin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      return { child, exited, stderr: () => stderr };
    };
    for (const args of [
      ['check', '--dir', dir],
      ['invoke', 'echo', '{"n": 21}', '--dir', dir],
    ]) {
      const run = closedPipe(args);
      expect(await run.exited, args[0]).toBe(0);
      expect(run.stderr(), args[0]).not.toMatch(/EPIPE|\n\s+at /);
    }
    vhost = await createTestVhost('cli-epipe');
    const port = await freePort();
    const start = closedPipe(['start', '--dir', dir], { AMQP_URL: vhost.url, WARREN_ADMIN_PORT: String(port) });
    try {
      // Its logs go nowhere; it runs on, ready, and a SIGTERM still stops it cleanly.
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, 30_000, 200);
      await new Promise((r) => setTimeout(r, 500));
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      start.child.kill('SIGTERM');
      expect(await start.exited).toBe(0);
      expect(start.stderr()).not.toMatch(/EPIPE|\n\s+at /);
    } finally {
      start.child.kill('SIGKILL');
    }
  });

  it('check lists the prefetch a replica really uses, and why it differs from queues.yaml', async () => {
    const yaml = [
      'functions:',
      '  echo: { prefetch: 10, ordered: true }',
      '  ingest: { prefetch: 10, batch: { size: 50 } }',
      '  plain: { prefetch: 10 }',
      '  bulk: { batch: { size: 20 } }',
      '',
    ].join('\n');
    const ingest = "import type { BatchHandler } from 'warren';\nconst handler: BatchHandler = async () => undefined;\nexport default handler;\n";
    project = await createProject(yaml, { echo, ingest, plain: echo, bulk: ingest });
    const result = await runWarren(['check', '--dir', project.dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/echo: .*prefetch 1 \(configured 10; ordered: true takes one message at a time/);
    expect(result.stdout).toMatch(/ingest: .*prefetch 50 \(configured 10; prefetch raised to 50 \(batch\.size\)/);
    expect(result.stdout).toMatch(/plain: .*prefetch 10, attempts/);
    // Left out, the prefetch is the default: nothing the user wrote is quoted back as configured.
    expect(result.stdout).toMatch(/bulk: .*prefetch 20 \(default 1; prefetch raised to 20 \(batch\.size\)/);
  });

  it('start refuses an --only that names no function (an unset variable), exit 2, and declares nothing', async () => {
    vhost = await createTestVhost('cli-only-empty');
    project = await createProject('', { echo });
    for (const only of ['', ',', ' , ']) {
      // Killed after 15 s if it runs instead of refusing: no runtime is left behind.
      const result = await runWarren(['start', '--only', only, '--dir', project.dir], { AMQP_URL: vhost.url, WARREN_ADMIN_PORT: '0' }, undefined, 15_000);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--only names no function');
      expect(result.stderr).toContain('hint:');
      expect(result.stdout).not.toContain('warren is running');
    }
    const queues = (await management('GET', `/api/queues/${encodeURIComponent(vhost.name)}`)) as unknown[];
    expect(queues).toEqual([]);
  });

  it('start, dev and invoke refuse a WARREN_LOG_LEVEL that is no level, exit 2 naming it, and declare nothing; any case of a level is read', async () => {
    vhost = await createTestVhost('cli-log-level');
    project = await createProject('', { echo });
    const env = { AMQP_URL: vhost.url, WARREN_ADMIN_PORT: '0', WARREN_LOG_LEVEL: 'verbose' };
    for (const args of [['start'], ['dev'], ['invoke', 'echo', '{"n":1}']]) {
      const result = await runWarren([...args, '--dir', project.dir], env, undefined, 15_000);
      expect(result.code, args[0]).toBe(2);
      expect(result.stderr, args[0]).toContain('WARREN_LOG_LEVEL: got "verbose" (expected one of trace, debug, info, warn, error, fatal, silent)');
      expect(result.stderr, args[0]).not.toMatch(/\n\s+at /);
      expect(result.stdout, args[0]).not.toContain('warren is running');
    }
    const queues = (await management('GET', `/api/queues/${encodeURIComponent(vhost.name)}`)) as unknown[];
    expect(queues).toEqual([]);
    const upper = await runWarren(['invoke', 'echo', '{"n":2}', '--dir', project.dir], { ...env, WARREN_LOG_LEVEL: 'WARN' });
    expect(upper.code, upper.stderr).toBe(0);
    expect(upper.stdout).toContain('"doubled": 4');
  });

  it('check, start, dev and status given a file as --dir say it is a file and name the folder that holds it', async () => {
    project = await createProject('functions:\n  echo: {}\n', { echo });
    for (const file of ['queues.yaml', 'functions/echo.ts']) {
      for (const command of ['check', 'start', 'dev', 'status']) {
        // no broker answers there: the folder is refused before any is needed (killed after 15 s otherwise)
        const env = { AMQP_URL: 'amqp://guest:guest@127.0.0.1:1/', WARREN_ADMIN_PORT: '0' };
        const result = await runWarren([command, '--dir', join(project.dir, file)], env, undefined, 15_000);
        expect(result.code, `${command} --dir ${file}`).toBe(2);
        expect(result.stderr).toContain(`project folder ${join(project.dir, file)} is a file`);
        expect(result.stderr).toContain(`hint: --dir takes the folder that holds queues.yaml and functions/, not a file in it: --dir ${project.dir}`);
        expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
      }
    }
  });

  it('check exits 2 naming the file, line, column, key and a hint for every problem, without a stack trace', async () => {
    const yaml = [
      'exchanges:',
      '  users: { type: topic }',
      'functions:',
      '  echo:',
      '    replicas: two',
      '    prefetchh: 10',
      'bindings:',
      '  - { exchange: nowhere, queue: echo }',
      '',
    ].join('\n');
    project = await createProject(yaml, { echo });
    const result = await runWarren(['check', '--dir', project.dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/queues\.yaml:5:\d+ .*replicas/);
    expect(result.stderr).toMatch(/queues\.yaml:6:\d+ .*prefetchh/);
    expect(result.stderr).toMatch(/prefetch/);
    expect(result.stderr).toContain('hint:');
    expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  });

  it('check reports a handler syntax error with its file and line', async () => {
    project = await createProject('', { broken: 'export default async function (m) {\n  return m +;\n}\n' });
    const result = await runWarren(['check', '--dir', project.dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/functions\/broken\.ts:2:\d+/);
    expect(result.stderr).toContain('WARREN_E_HANDLER_BUILD');
  });

  it('start exits 2 on invalid config, listing every problem (shape, references, handler builds) at once, and declares nothing', async () => {
    vhost = await createTestVhost('cli-bad');
    const yaml = 'exchanges:\n  users: { type: topic }\nfunctions:\n  echo: { replicas: -1 }\nbindings:\n  - { exchange: nowhere, queue: echo }\n';
    project = await createProject(yaml, { echo, broken: 'export default async function (m) {\n  return m +;\n}\n' });
    const result = await runWarren(['start', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('3 problems');
    expect(result.stderr).toMatch(/queues\.yaml:4:\d+ functions\.echo\.replicas/);
    expect(result.stderr).toMatch(/queues\.yaml:6:\d+ bindings\[0\]\.exchange: binding to exchange "nowhere"/);
    expect(result.stderr).toMatch(/functions\/broken\.ts:2:\d+ could not build/);
    // The config is refused before anything says it is up.
    expect(result.stdout).not.toContain('admin API listening');
    const queues = (await management('GET', `/api/queues/${encodeURIComponent(vhost.name)}`)) as unknown[];
    const exchanges = (await management('GET', `/api/exchanges/${encodeURIComponent(vhost.name)}`)) as Array<{ name: string }>;
    expect(queues).toEqual([]);
    expect(exchanges.map((x) => x.name)).not.toContain('users');
  });

  it('start with a valid queues.yaml and one handler that does not build exits 2 and declares nothing, though it reached the broker meanwhile', async () => {
    vhost = await createTestVhost('cli-build');
    project = await createProject('exchanges:\n  users: { type: topic }\nfunctions:\n  echo: {}\n', {
      echo,
      broken: 'export default async function (m) {\n  return m +;\n}\n',
    });
    const result = await runWarren(['start', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/functions\/broken\.ts:2:\d+ could not build/);
    // Refused before anything says it is up.
    expect(result.stdout).not.toContain('admin API listening');
    const queues = (await management('GET', `/api/queues/${encodeURIComponent(vhost.name)}`)) as unknown[];
    const exchanges = (await management('GET', `/api/exchanges/${encodeURIComponent(vhost.name)}`)) as Array<{ name: string }>;
    expect(queues).toEqual([]);
    expect(exchanges.map((x) => x.name).filter((n) => n === 'users' || n.startsWith('warren.'))).toEqual([]);
  });

  it('start exits 2 when a queue already exists with other arguments, naming the argument and how to migrate', async () => {
    vhost = await createTestVhost('cli-mismatch');
    const conn = await amqplib.connect(vhost.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('my_app', { durable: true }); // classic, made by hand
    await conn.close();
    project = await createProject('queues:\n  my_app: { type: quorum }\nfunctions:\n  echo: { queue: my_app }\n', { echo });
    const result = await runWarren(['start', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('my_app');
    expect(result.stderr).toContain('x-queue-type');
    expect(result.stderr).toMatch(/hint: .*(type: classic|migrat|move)/i);
    // Its replica booted while the preflight ran, and never consumed: the log says nothing of it.
    expect(result.stdout).not.toMatch(/function (started|stopped)|replica/);
    const queues = (await management('GET', `/api/queues/${encodeURIComponent(vhost.name)}`)) as Array<{ name: string }>;
    expect(queues.map((q) => q.name)).toEqual(['my_app']);
  });

  it('invoke runs one handler on one message without a broker and prints the result', async () => {
    project = await createProject('', { echo });
    const ok = await runWarren(['invoke', 'echo', '{"n": 21}', '--dir', project.dir], { AMQP_URL: 'amqp://guest:guest@127.0.0.1:1/nothing' });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ doubled: 42 });
    const rejected = await runWarren(['invoke', 'echo', '{"n": -1}', '--dir', project.dir]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('rejected');
    expect(rejected.stderr).toContain('negative');
    const unknown = await runWarren(['invoke', 'nope', '{}', '--dir', project.dir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no function named nope');
  });
});
