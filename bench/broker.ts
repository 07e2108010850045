/**
 * The broker side of the benchmark: a dedicated vhost per bench (management API), and the bare
 * amqplib producer and consumer every Warren figure is divided by.
 */
import { randomBytes } from 'node:crypto';
import amqplib from 'amqplib';
import { amqpBase, createVhost as createTestVhost, deleteVhost, management } from '../test/testkit/management';

export const AMQP_BASE = amqpBase();

export interface BenchVhost {
  name: string;
  url: string;
  remove(): Promise<void>;
}

export async function createVhost(prefix: string): Promise<BenchVhost> {
  const name = `bench-${prefix}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  return { name, url: await createTestVhost(name), remove: () => deleteVhost(name) };
}

export async function brokerOverview(): Promise<{ rabbitmq: string; erlang: string }> {
  const o = (await management('GET', '/api/overview')) as { rabbitmq_version: string; erlang_version: string };
  return { rabbitmq: o.rabbitmq_version, erlang: o.erlang_version };
}

export async function queueDepth(url: string, queue: string): Promise<number> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

export async function purge(url: string, queue: string): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.purgeQueue(queue);
  } finally {
    await conn.close();
  }
}

/** One JSON message, confirmed. */
export async function publishJson(url: string, queue: string, body: unknown): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: 'application/json' });
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}

/**
 * The publish baseline: `count` persistent messages with publisher confirms, pipelined with a window
 * of unconfirmed messages (the same window `warren publish` uses). Returns msg/s, connect included.
 */
export async function publishBaseline(url: string, queue: string, count: number, window = 1_000): Promise<number> {
  const started = performance.now();
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    const body = Buffer.from(JSON.stringify({ i: 1 }));
    let inFlight = 0;
    let wake: (() => void) | null = null;
    let failure: Error | null = null;
    for (let i = 0; i < count; i++) {
      if (failure) throw failure;
      inFlight++;
      ch.publish('', queue, body, { persistent: true, contentType: 'application/json' }, (err) => {
        if (err) failure = new Error('nack');
        inFlight--;
        if (wake && inFlight < window) {
          wake();
          wake = null;
        }
      });
      if (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
    }
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
  return count / ((performance.now() - started) / 1000);
}

export interface DrainOptions {
  prefetch: number;
  consumers: number;
  /** per-message work (ms) before the ack; 0 acks at once */
  workMs: number;
}

/**
 * The consume baseline: bare amqplib consumers (one channel each), ack every message, until `count`
 * are acked. Timed from the moment the consumers are registered. Returns msg/s.
 */
export async function drainBaseline(url: string, queue: string, count: number, options: DrainOptions): Promise<number> {
  const conn = await amqplib.connect(url);
  try {
    let acked = 0;
    let started = 0;
    const channels: amqplib.Channel[] = [];
    const done = new Promise<number>((resolve) => {
      const consumers = Array.from({ length: options.consumers }, async () => {
        const ch = await conn.createChannel();
        channels.push(ch);
        await ch.prefetch(options.prefetch);
        started ||= performance.now();
        await ch.consume(queue, (msg) => {
          if (!msg) return;
          const ack = () => {
            ch.ack(msg);
            if (++acked === count) resolve((performance.now() - started) / 1000);
          };
          if (options.workMs > 0) setTimeout(ack, options.workMs);
          else ack();
        });
      });
      void Promise.all(consumers);
    });
    const seconds = await done;
    // Closing each channel first flushes its last acks (a connection close can overtake them).
    await Promise.all(channels.map((ch) => ch.close()));
    return count / seconds;
  } finally {
    await conn.close();
  }
}
