/**
 * `warren publish --count N` when the broker refuses some copies (a nack: a queue at its maxLength with
 * reject-publish here; a quorum queue electing a leader on a cluster): the refused copies are sent
 * again after a wait, so every one of the N arrives, and the command says what it did.
 */
import amqplib from 'amqplib';
import { afterEach, expect, it } from 'vitest';
import { createTestVhost, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, type Project } from '../helpers/runtime';

let vhost: TestVhost | undefined;
let project: Project | undefined;

afterEach(async () => {
  await project?.remove();
  await vhost?.cleanup();
  project = vhost = undefined;
});

it('sends the copies the broker refused again until it takes them: all 30 arrive once, exit 0', async () => {
  vhost = await createTestVhost('publish-refused');
  project = await createProject('functions: {}\n');
  const conn = await amqplib.connect(vhost.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('capped', { durable: true, arguments: { 'x-queue-type': 'classic', 'x-max-length': 10, 'x-overflow': 'reject-publish' } });
    const publishing = runWarren(['publish', '', 'capped', '{"n":1}', '--count', '30', '--dir', project.dir], { AMQP_URL: vhost.url }, undefined, 60_000);
    // The queue takes 10; the consumer makes room only once the command has been refused.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
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
    await ch.close();
  } finally {
    await conn.close();
  }
});
