/**
 * An output exchange deleted on the broker while the runtime runs (`rabbitmqctl delete_exchange`, the
 * management UI): the publish the broker refuses for it makes the runtime declare the topology again,
 * bindings included, so the message's retry reaches the queue bound to it. `warren deploy` declares
 * the topology again too.
 */
import amqplib from 'amqplib';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestVhost, getAll, publishRaw, queueInfo } from '../helpers/broker';
import { collectResults, createProject, heldPerTest, publishIds, recordingHandler, runCli, startRuntime } from './admin-harness';

const hold = heldPerTest();

/** `echo` returns its input to the `results` exchange, bound to the `results` queue; retries come after 1 s. */
const QUEUES = `exchanges:
  results: { type: fanout }
queues:
  results: { type: classic }
bindings:
  - { exchange: results, queue: results, routingKey: all }
functions:
  echo:
    output: { exchange: results, routingKey: all }
    retry: { attempts: 3, delay: 1s }
`;

async function deleteExchange(url: string, name: string): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.deleteExchange(name);
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** A passive declare, which closes its channel when the exchange is not there. */
async function exchangeExists(url: string, name: string): Promise<boolean> {
  const conn = await amqplib.connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.checkExchange(name);
    return true;
  } catch {
    return false;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe('an output exchange deleted while the runtime runs', () => {
  it('is declared again with its bindings when a publish to it is refused, and the retry reaches the bound queue', async () => {
    const vhost = hold('vhost', await createTestVhost('exchange-deleted'));
    const project = hold('project', await createProject({ 'queues.yaml': QUEUES, 'functions/echo.ts': recordingHandler('v1') }));
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    await publishIds(vhost.url, 'echo', ['before']);
    expect((await collectResults(vhost.url, 1)).map((r) => r.id)).toEqual(['before']);

    await deleteExchange(vhost.url, 'results');
    await publishIds(vhost.url, 'echo', ['after']);
    expect((await collectResults(vhost.url, 1, 30_000)).map((r) => r.id)).toEqual(['after']);
    expect((await queueInfo(vhost.url, 'echo.dead')).messageCount).toBe(0);

    const output = runtime.output();
    // The publisher names the cause once, without the broker's stack; the retry's line carries it as its error.
    const lines = output.split('\n').filter((line) => line.includes('exchange results does not exist on the broker'));
    const refusals = lines.filter((line) => !line.includes('failed; retrying'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain('Warren declares it again');
    expect(lines.filter((line) => line.includes('attempt 1 of') && line.includes('failed; retrying'))).toHaveLength(1);
    expect(output).not.toContain('Channel closed by server');
    expect(output).toContain('topology declared');
    expect((await runtime.admin('/readyz')).status).toBe(200);
  });

  it('is declared again, with its bindings, by `warren deploy FN` and by `warren deploy --all`', async () => {
    const vhost = hold('vhost', await createTestVhost('exchange-deploy'));
    const project = hold('project', await createProject({ 'queues.yaml': QUEUES, 'functions/echo.ts': recordingHandler('v1') }));
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();

    for (const args of [
      ['deploy', 'echo'],
      ['deploy', '--all'],
    ]) {
      await deleteExchange(vhost.url, 'results');
      const deployed = await runCli(args, runtime.env);
      expect(deployed.code, `${args.join(' ')}: ${deployed.stderr}`).toBe(0);
      // Published straight to the exchange: it exists again and is bound to the results queue.
      expect(await exchangeExists(vhost.url, 'results'), args.join(' ')).toBe(true);
      await publishRaw(vhost.url, 'results', 'all', JSON.stringify({ id: args.join(' ') }));
      expect((await getAll(vhost.url, 'results')).map((m) => (JSON.parse(m.content.toString()) as { id: string }).id)).toEqual([args.join(' ')]);
    }
  });
});

describe('an exchange the broker will not take back as queues.yaml declares it', () => {
  it('`warren deploy FN` still deploys, and says the topology was not declared again, naming the exchange (exit 2)', async () => {
    const vhost = hold('vhost', await createTestVhost('exchange-conflict'));
    const project = hold('project', await createProject({ 'queues.yaml': QUEUES, 'functions/echo.ts': recordingHandler('v1') }));
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    // Someone deletes `results` and declares it again as a direct exchange: queues.yaml says fanout.
    await deleteExchange(vhost.url, 'results');
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.assertExchange('results', 'direct', { durable: true });
      await ch.close();
    } finally {
      await conn.close();
    }
    await writeFile(join(project.dir, 'functions/echo.ts'), recordingHandler('v2'));

    const deployed = await runCli(['deploy', 'echo'], runtime.env);
    expect(deployed.stdout).toMatch(/^echo: deployed \w+ \(was \w+\)$/m);
    expect(deployed.stderr).toContain('results');
    expect(deployed.stderr).toMatch(/WARREN_E_/);
    expect(deployed.code).toBe(2);
  });
});
