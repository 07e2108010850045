/**
 * `warren publish --count N` when the broker refuses some copies (a nack: a queue at its maxLength with
 * reject-publish here; a quorum queue electing a leader on a cluster): the refused copies are sent
 * again after a wait, so every one of the N arrives, and the command says what it did. Stopped half
 * way (Ctrl-C), it sends no more, waits for the confirms of what it sent and says how many were
 * published, which is what the queue holds; a count no one means (1e9, 1e300) is refused before
 * anything is sent.
 */
import amqplib, { type Channel } from 'amqplib';
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

/** A vhost and a project of their own, and a channel with classic queue `queue` declared (`args` beside); `body` runs on it. */
async function onQueue(
  prefix: string,
  queue: string,
  args: Record<string, unknown>,
  body: (ch: Channel, url: string, dir: string) => Promise<void>,
): Promise<void> {
  vhost = await createTestVhost(prefix);
  project = await createProject('functions: {}\n');
  const conn = await amqplib.connect(vhost.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic', ...args } });
    await body(ch, vhost.url, project.dir);
    await ch.close();
  } finally {
    await conn.close();
  }
}

it('sends the copies the broker refused again until it takes them: all 30 arrive once, exit 0', async () => {
  await onQueue('publish-refused', 'capped', { 'x-max-length': 10, 'x-overflow': 'reject-publish' }, async (ch, url, dir) => {
    const publishing = runWarren(['publish', '', 'capped', '{"n":1}', '--count', '30', '--dir', dir], { AMQP_URL: url }, undefined, 60_000);
    // The queue takes 10; the consumer makes room only once the command has been refused (the queue
    // full, and a moment for the nacks of the rest; a fixed second was too short for a CLI slow to start).
    const fullBy = Date.now() + 30_000;
    while ((await ch.checkQueue('capped')).messageCount < 10 && Date.now() < fullBy) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ids = new Set<string>();
    let received = 0;
    await ch.consume('capped', (msg) => {
      if (!msg) return;
      received++;
      ids.add(String(msg.properties.messageId));
      ch.ack(msg);
    });
    const result = await publishing;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/the broker refused \d+ message\(s\) \(nack\); sending them again in/);
    expect(result.stdout).toMatch(/published 30/);
    const deadline = Date.now() + 5_000;
    while (received < 30 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toBe(30);
    expect(ids.size).toBe(30);
  });
});

it('on SIGINT stops sending, says how many were published, and the queue holds exactly those; exit 130', async () => {
  await onQueue('publish-interrupt', 'load', {}, async (ch, url, dir) => {
    const child = spawn(process.execPath, [warrenBin, 'publish', '', 'load', '{"n":1}', '--count', '5000000', '--dir', dir], {
      env: { ...process.env, AMQP_URL: url },
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
  });
});

it('refuses a --count over 10 million (exit 2, a hint) and sends nothing', async () => {
  await onQueue('publish-count', 'load', {}, async (ch, url, dir) => {
    const over = await runWarren(['publish', '', 'load', '{}', '--count', '10000001', '--dir', dir], { AMQP_URL: url }, undefined, 30_000);
    expect(over.code, over.stderr).toBe(2);
    expect(over.stderr).toContain('--count 10000001 is over 10,000,000');
    expect(over.stderr).toMatch(/hint: publish in several runs/);
    // Written in decimal digits or not at all: 1e300 is no count.
    const exponent = await runWarren(['publish', '', 'load', '{}', '--count', '1e300', '--dir', dir], { AMQP_URL: url }, undefined, 30_000);
    expect(exponent.code, exponent.stderr).toBe(2);
    expect(exponent.stderr).toContain('--count must be an integer >= 1 in decimal digits, got "1e300"');
    expect((await ch.checkQueue('load')).messageCount).toBe(0);
  });
});
