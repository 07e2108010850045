/**
 * `warren publish --count N` stopped half way (Ctrl-C): it sends no more, waits for the broker's
 * confirms of what it sent, and says how many were published, which is what the queue holds. A count
 * no one means (1e9, 1e300) is refused before anything is sent.
 */
import amqplib from 'amqplib';
import { spawn } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { createTestVhost, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, warrenBin, type Project } from '../helpers/runtime';

let vhost: TestVhost | undefined;
let project: Project | undefined;

afterEach(async () => {
  await project?.remove();
  await vhost?.cleanup();
  project = vhost = undefined;
});

it('on SIGINT stops sending, says how many were published, and the queue holds exactly those; exit 130', async () => {
  vhost = await createTestVhost('publish-interrupt');
  project = await createProject('functions: {}\n');
  const conn = await amqplib.connect(vhost.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('load', { durable: true, arguments: { 'x-queue-type': 'classic' } });
    const child = spawn(process.execPath, [warrenBin, 'publish', '', 'load', '{"n":1}', '--count', '5000000', '--dir', project.dir], {
      env: { ...process.env, AMQP_URL: vhost.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      while ((await ch.checkQueue('load')).messageCount < 1_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      child.kill('SIGKILL');
    }
    const said = /interrupted: published (\d+) of 5000000 messages \(confirmed by the broker\); the other (\d+) were not sent/.exec(stderr);
    expect(said, stderr).not.toBeNull();
    const published = Number(said![1]);
    expect(published).toBeGreaterThanOrEqual(1_000);
    expect(published + Number(said![2])).toBe(5_000_000);
    expect((await ch.checkQueue('load')).messageCount).toBe(published);
    await ch.close();
  } finally {
    await conn.close();
  }
});

it('refuses a --count over 10 million (exit 2, a hint) and sends nothing', async () => {
  vhost = await createTestVhost('publish-count');
  project = await createProject('functions: {}\n');
  const conn = await amqplib.connect(vhost.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('load', { durable: true, arguments: { 'x-queue-type': 'classic' } });
    for (const count of ['10000001', '1e300']) {
      const result = await runWarren(['publish', '', 'load', '{}', '--count', count, '--dir', project.dir], { AMQP_URL: vhost.url }, undefined, 30_000);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`--count ${count} is over 10,000,000`);
      expect(result.stderr).toMatch(/hint: publish in several runs/);
    }
    expect((await ch.checkQueue('load')).messageCount).toBe(0);
    await ch.close();
  } finally {
    await conn.close();
  }
});
