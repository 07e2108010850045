/**
 * A function's queue deleted on the broker while the runtime runs (`rabbitmqctl delete_queue`, the
 * management UI, a policy's `expires`): the runtime declares the topology again by itself and the
 * function consumes again, without a restart or a deploy. The other functions never stop.
 */
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { createTestVhost } from '../helpers/broker';
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
