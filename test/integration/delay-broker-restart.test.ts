/**
 * A broker restart during a delay loses nothing: delayed messages wait in durable queues as persistent
 * messages, and the forwarder's held ones go back to the broker with its connection. Runs against a
 * private RabbitMQ node so the rest of the suite is untouched.
 */
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRabbitNode, type RabbitNode } from '../helpers/rabbit-node';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';

const queuesYaml = `
exchanges:
  events: { type: topic }
queues:
  arrivals: { type: classic }
bindings:
  - "events[#] -> arrivals"
`;

let node: RabbitNode;
let project: Project;
let warren: RunningWarren | undefined;

beforeAll(async () => {
  node = await startRabbitNode();
  project = await createProject(queuesYaml, { idle: 'export default async () => undefined;\n' });
}, 120_000);

afterAll(async () => {
  const code = await warren?.stop();
  await project?.remove();
  await node?.stop();
  expect(code ?? 0).toBe(0);
});

describe('a broker restart during delays', () => {
  it('delivers every delayed message once, none early', async () => {
    warren = await startWarren(project.dir, node.url, { timeoutMs: 60_000 });
    // 3 s: held by the forwarder when the broker stops; 9 s: waiting in ladder queues (4 s + 2 s + 1 s).
    for (const [id, delay] of [
      ['held', '3s'],
      ['laddered', '9s'],
    ] as const) {
      const cli = await runWarren(['publish', 'events', `arrive.${id}`, JSON.stringify({ id }), '--delay', delay, '--dir', project.dir], {
        AMQP_URL: node.url,
      });
      expect(cli.code).toBe(0);
    }
    await new Promise((r) => setTimeout(r, 1_500));
    await node.stopApp();
    await node.startApp();

    const conn = await amqplib.connect(node.url);
    try {
      const channel = await conn.createChannel();
      const arrivals: Array<{ id: string; due: number; at: number }> = [];
      await channel.consume(
        'arrivals',
        (m) =>
          m &&
          arrivals.push({
            id: (JSON.parse(m.content.toString()) as { id: string }).id,
            due: Number(m.properties.headers?.['x-warren-delay-due']),
            at: Date.now(),
          }),
        { noAck: true },
      );
      await waitFor(() => arrivals.length >= 2, 45_000);
      await new Promise((r) => setTimeout(r, 500));
      console.log(`after a broker restart: ${arrivals.map((a) => `${a.id} ${a.at - a.due} ms late`).join(', ')}`);
      expect(arrivals.map((a) => a.id).sort()).toEqual(['held', 'laddered']);
      for (const a of arrivals) expect(a.at).toBeGreaterThanOrEqual(a.due);
      await channel.close();
    } finally {
      await conn.close();
    }
  });
});
