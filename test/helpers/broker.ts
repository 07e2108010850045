/**
 * Real-broker helpers for integration tests: one fresh vhost per test (created through the
 * management API), and a cleanup that fails the test when it left a connection or a consumer behind.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib, { type GetMessage, type Options } from 'amqplib';
import { createVhost, deleteVhost, management } from '../testkit/management';

const run = promisify(execFile);

export { amqpBase, management, managementBase } from '../testkit/management';

/** GET /api/queues/:vhost/:name, or undefined when the queue does not exist. */
export async function managementQueue(vhost: string, queue: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await management('GET', `/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`)) as Record<string, unknown>;
  } catch (err) {
    if (String(err).includes(': 404 ')) return undefined;
    throw err;
  }
}

/** GET /api/exchanges/:vhost/:name, or undefined when the exchange does not exist. */
export async function managementExchange(vhost: string, exchange: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await management('GET', `/api/exchanges/${encodeURIComponent(vhost)}/${encodeURIComponent(exchange)}`)) as Record<string, unknown>;
  } catch (err) {
    if (String(err).includes(': 404 ')) return undefined;
    throw err;
  }
}

export interface TestVhost {
  name: string;
  /** AMQP URL of the vhost (guest user) */
  url: string;
  /** Fails when a connection or consumer was left behind; deletes the vhost either way. */
  cleanup(): Promise<void>;
}

/**
 * A fresh vhost named after `prefix`. WARREN_TEST_VHOST_PREFIX, when set, goes in front of every
 * name, so runs on a broker that others use too keep to names of their own.
 */
export async function createTestVhost(prefix: string): Promise<TestVhost> {
  const name = `${process.env.WARREN_TEST_VHOST_PREFIX ?? ''}${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const url = await createVhost(name);
  let cleaned = false;
  return {
    name,
    url,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      const problems: string[] = [];
      try {
        problems.push(...(await leftConsumers(url, name)));
        const open = await openConnections(name);
        if (open > 0) problems.push(`${open} connection(s) still open on vhost ${name}`);
      } finally {
        await deleteVhost(name);
      }
      if (problems.length > 0) throw new Error(`test left resources behind: ${problems.join('; ')}`);
    },
  };
}

/** Real-time connection count of a vhost (rabbitmqctl; the HTTP API lags ~5s for new connections). */
async function openConnections(vhost: string): Promise<number> {
  // A connection the test just closed can take a moment to disappear on the broker side.
  const deadline = Date.now() + 2_000;
  for (;;) {
    const count = await countConnections(vhost);
    if (count === 0 || Date.now() > deadline) return count;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function countConnections(vhost: string): Promise<number> {
  try {
    const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'vhost']);
    return stdout.split('\n').filter((line) => line.trim() === vhost).length;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    const list = (await management('GET', `/api/vhosts/${encodeURIComponent(vhost)}/connections`)) as unknown[];
    return list.length;
  }
}

/** Queues with consumers, counted in real time through checkQueue. */
async function leftConsumers(url: string, vhost: string): Promise<string[]> {
  const queues = (await management('GET', `/api/queues/${encodeURIComponent(vhost)}?columns=name`)) as Array<{ name: string }>;
  if (queues.length === 0) return [];
  const found: string[] = [];
  const deadline = Date.now() + 2_000;
  const conn = await amqplib.connect(url);
  try {
    for (const { name } of queues) {
      for (;;) {
        const ch = await conn.createChannel();
        const { consumerCount } = await ch.checkQueue(name);
        await ch.close();
        if (consumerCount === 0) break;
        if (Date.now() > deadline) {
          found.push(`queue ${name} still has ${consumerCount} consumer(s)`);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await conn.close();
  }
  return found;
}

export async function queueInfo(url: string, queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    const { messageCount, consumerCount } = await ch.checkQueue(queue);
    return { messageCount, consumerCount };
  } finally {
    await conn.close();
  }
}

/** Takes (and acks) every message waiting in `queue`, oldest first. */
export async function getAll(url: string, queue: string): Promise<GetMessage[]> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    const out: GetMessage[] = [];
    for (;;) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      ch.ack(msg);
      out.push(msg);
    }
    await ch.close();
    return out;
  } finally {
    await conn.close();
  }
}

/** Publishes one message and waits for the broker's confirm. */
export async function publishRaw(url: string, exchange: string, routingKey: string, body: Buffer | string, props: Options.Publish = {}): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish(exchange, routingKey, typeof body === 'string' ? Buffer.from(body) : body, props);
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}
