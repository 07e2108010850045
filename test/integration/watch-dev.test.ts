/**
 * `warren dev` against the real broker: with AMQP_URL set it starts no broker and says nothing about
 * one, logs pretty (not JSON) lines, coloured only on a terminal or when FORCE_COLOR asks, and
 * watches: a dropped-in handler consumes within a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createTestVhost, type TestVhost } from '../helpers/broker';
import { createProject, freePort, waitFor, warrenBin, type Project } from '../helpers/runtime';
import { consumerCount, reportingHandler, RESULTS_YAML } from './watch-helpers';

let vhost: TestVhost;
let project: Project;
let child: ChildProcess | undefined;
let conn: amqplib.ChannelModel | undefined;

beforeEach(async () => {
  vhost = await createTestVhost('dev');
});

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
  await conn?.close();
  conn = undefined;
  await project?.remove();
  await vhost.cleanup();
});

it('warren dev with AMQP_URL set: starts no broker, pretty logs, watches functions/', async () => {
  project = await createProject(RESULTS_YAML, { first: reportingHandler('first') });
  let out = '';
  child = await startDev(project.dir, {}, (c) => (out += c));
  await waitFor(() => /warren is running/.test(out) && /watching functions\//.test(out), 20_000);

  expect(out).not.toMatch(/starting one|rabbitmq-server|Docker/);
  expect(out.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  expect(out).toMatch(/INFO: warren is running/);
  // Its output is a pipe here, not a terminal: plain text, no colour codes (a log file stays readable).
  expect(out).not.toContain('\x1b[');

  conn = await amqplib.connect(vhost.url);
  const staged = join(project.dir, 'staged.ts');
  await writeFile(staged, reportingHandler('second'));
  const copiedAt = Date.now();
  await copyFile(staged, join(project.dir, 'functions', 'second.ts'));
  await waitFor(async () => (await consumerCount(conn!, 'second')) >= 1, 5_000, 20);
  const elapsed = Date.now() - copiedAt;
  console.log(`warren dev: dropped-in handler consuming ${elapsed} ms after the copy`);
  expect(elapsed).toBeLessThan(1_500);
});

it('warren dev colours its logs on a pipe only when FORCE_COLOR asks for it', async () => {
  project = await createProject(RESULTS_YAML, { first: reportingHandler('first') });
  let out = '';
  child = await startDev(project.dir, { FORCE_COLOR: '1' }, (c) => (out += c));
  await waitFor(() => /warren is running/.test(out), 20_000);
  expect(out).toMatch(/\x1b\[\d+mINFO\x1b\[\d+m/);
});

it('warren dev on a project that does not load: says why, waits for the fix, then runs it; Ctrl-C while waiting exits', async () => {
  const broken = `${RESULTS_YAML}functions:\n  typo: { replicas: 1, retyr: 3 }\n`;
  project = await createProject(broken, { first: reportingHandler('first'), typo: reportingHandler('typo') });
  let out = '';
  const port = await freePort();
  child = await startDev(project.dir, { WARREN_ADMIN_PORT: String(port) }, (c) => (out += c));
  await waitFor(() => /waiting for a change/.test(out), 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; warren dev said:\n${out}`);
  });
  expect(out).toMatch(/queues\.yaml:\d+:\d+ functions\.typo\.retyr: unknown key "retyr"/);
  expect(child.exitCode).toBeNull();
  // Meanwhile the admin API and the dashboard answer, saying why it does not run.
  const readyz = await fetch(`http://127.0.0.1:${port}/readyz`);
  expect(readyz.status).toBe(503);
  expect(((await readyz.json()) as { error: string }).error).toMatch(
    /^the project does not load: queues\.yaml:\d+:\d+ functions\.typo\.retyr: unknown key "retyr" .*; warren dev starts it again on the next save$/,
  );
  expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);

  await writeFile(join(project.dir, 'queues.yaml'), broken.replace(', retyr: 3', ''));
  await waitFor(() => /warren is running/.test(out), 20_000);
  conn = await amqplib.connect(vhost.url);
  await waitFor(async () => (await consumerCount(conn!, 'typo')) >= 1, 5_000, 20);

  // Broken again on disk, and started again: it waits; a Ctrl-C then ends it with the project's exit code.
  child.kill('SIGTERM');
  await new Promise((resolve) => child!.once('exit', resolve));
  await writeFile(join(project.dir, 'queues.yaml'), broken);
  out = '';
  child = await startDev(project.dir, {}, (c) => (out += c));
  await waitFor(() => /waiting for a change/.test(out), 20_000);
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  expect(await exited).toBe(2);
});

/** `warren dev` with its output on pipes, colour settings from `env` only (not inherited from the test's own). */
async function startDev(dir: string, env: Record<string, string>, onOutput: (chunk: string) => void): Promise<ChildProcess> {
  const inherited: Record<string, string | undefined> = { ...process.env };
  delete inherited['NO_COLOR'];
  delete inherited['FORCE_COLOR'];
  const started = spawn(process.execPath, [warrenBin, 'dev', '--dir', dir], {
    env: { ...inherited, AMQP_URL: vhost.url, WARREN_ADMIN_PORT: String(await freePort()), WARREN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.stdout!.setEncoding('utf8').on('data', onOutput);
  started.stderr!.setEncoding('utf8').on('data', onOutput);
  return started;
}
