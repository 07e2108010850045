/**
 * A function's queue deleted on the broker while the runtime runs (`rabbitmqctl delete_queue`, the
 * management UI, a policy's `expires`): the runtime declares the topology again by itself and the
 * function consumes again, without a restart or a deploy. The other functions never stop.
 */
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { createTestVhost } from '../helpers/broker';
import { createVhost, deleteVhost } from '../testkit/management';
import { waitFor } from '../helpers/runtime';
import { collectResults, createProject, heldPerTest, publishIds, recordingHandler, recordingQueues, startRuntime } from './admin-harness';

const hold = heldPerTest();

describe('a function queue deleted while the runtime runs', () => {
  it('is declared again, and the function consumes from it again; the other function went on', async () => {
    const vhost = hold('vhost', await createTestVhost('queue-deleted'));
    const project = hold(
      'project',
      await createProject({
        'queues.yaml': recordingQueues({ echo: { replicas: 2 }, other: {} }),
        'functions/echo.ts': recordingHandler('v1'),
        'functions/other.ts': recordingHandler('v1'),
      }),
    );
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    await publishIds(vhost.url, 'echo', ['before']);
    expect((await collectResults(vhost.url, 1)).map((r) => r.id)).toEqual(['before']);

    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.deleteQueue('echo');
    } finally {
      await conn.close();
    }
    // Declared again, and both replicas consume from it.
    await waitFor(async () => (await consumersOf(vhost.url, 'echo')) === 2, 30_000, 200);
    await publishIds(vhost.url, 'echo', ['after-1', 'after-2']);
    await publishIds(vhost.url, 'other', ['other-1']);
    const results = await collectResults(vhost.url, 3);
    expect(results.map((r) => r.id).sort()).toEqual(['after-1', 'after-2', 'other-1']);
    expect(runtime.output()).toContain('queue echo is gone from the broker');
  });

  it('deleted while its function ran at 0 replicas: a scale up declares it again first and answers 200, and the function consumes', async () => {
    const vhost = hold('vhost', await createTestVhost('queue-deleted-scale'));
    const project = hold(
      'project',
      await createProject({ 'queues.yaml': recordingQueues({ echo: { replicas: 1 } }), 'functions/echo.ts': recordingHandler('v1') }),
    );
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    const scale = (replicas: number) =>
      runtime.admin('/functions/echo/scale', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ replicas }) });
    expect((await scale(0)).status).toBe(200);
    const conn = await amqplib.connect(vhost.url);
    try {
      await (await conn.createChannel()).deleteQueue('echo');
    } finally {
      await conn.close();
    }
    const up = await scale(2);
    expect(up.status, await up.clone().text()).toBe(200);
    expect(await up.json()).toMatchObject({ name: 'echo', replicas: { desired: 2, running: 2 } });
    expect(await consumersOf(vhost.url, 'echo')).toBe(2);
    await publishIds(vhost.url, 'echo', ['after']);
    expect((await collectResults(vhost.url, 1)).map((r) => r.id)).toEqual(['after']);
  });

  it('its whole vhost deleted: /readyz (and the dashboard banner) names the missing vhost, and the runtime comes back once it is there again', async () => {
    const vhost = hold('vhost', await createTestVhost('vhost-deleted'));
    const project = hold('project', await createProject({ 'queues.yaml': recordingQueues({ echo: {} }), 'functions/echo.ts': recordingHandler('v1') }));
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    await deleteVhost(vhost.name);
    let said = '';
    await waitFor(
      async () => {
        const ready = await runtime.admin('/readyz');
        said = ((await ready.json()) as { error?: string }).error ?? '';
        return ready.status === 503 && said.includes(`has no vhost "${vhost.name}"`);
      },
      30_000,
      250,
    ).catch(() => {
      throw new Error(`/readyz said: ${said}`);
    });
    expect(said).toMatch(/^replicas not up: echo 0\/1 \(reconnecting: the broker at amqp:\/\/guest:\*\*\*@/);
    expect(runtime.output()).toContain(`reconnect failed: the broker at`);
    // An alert on running < desired fires: the replica is started but consumes nothing.
    const metrics = await (await runtime.admin('/metrics?name=warren_replicas_running&name=warren_replicas_desired')).text();
    expect(metrics).toContain('warren_replicas_running{function="echo"} 0');
    expect(metrics).toContain('warren_replicas_desired{function="echo"} 1');
    await createVhost(vhost.name);
    await runtime.waitReady(60_000);
    await publishIds(vhost.url, 'echo', ['back']);
    expect((await collectResults(vhost.url, 1)).map((r) => r.id)).toEqual(['back']);
  });
});

/** The queue's consumers, null while it does not exist (a passive declare closes its channel then). */
async function consumersOf(url: string, queue: string): Promise<number | null> {
  const conn = await amqplib.connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    return (await ch.checkQueue(queue)).consumerCount;
  } catch {
    return null;
  } finally {
    await conn.close().catch(() => undefined);
  }
}
