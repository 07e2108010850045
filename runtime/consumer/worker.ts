/**
 * Entry of one replica thread: its own rascal broker (own connection, channel and prefetch), one
 * subscription on the function's queue, the handler bundle loaded in-thread. A crash, exit or
 * out-of-memory here ends this thread only; the broker returns its unacked messages to the queue.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import rascal from 'rascal';
import { createLogger } from '../log';
import { loadHandler } from '../functions/load';
import { createProcessor, type Publish } from './process';
import { Settle, type Delivery, type MessageProperties } from './delivery';
import { ReplicaStats } from './stats';
import { compileMessageSchema } from './schema';
import type { FromReplica, ReplicaInit, ToReplica } from './protocol';

interface RascalMessage extends Delivery {
  properties: MessageProperties;
}
type AckOrNack = (...args: unknown[]) => void;
interface RascalSession {
  on(event: 'message', fn: (message: RascalMessage, content: Buffer, ackOrNack: AckOrNack) => void): RascalSession;
  on(event: 'error' | 'cancelled', fn: (err: Error) => void): RascalSession;
  cancel(): Promise<void>;
}
interface RascalPublication {
  on(event: 'success', fn: (messageId: string) => void): RascalPublication;
  on(event: 'error', fn: (err: Error, messageId: string) => void): RascalPublication;
  on(event: 'return', fn: (message: unknown) => void): RascalPublication;
}
interface RascalBroker {
  on(event: 'error', fn: (err: Error, info?: unknown) => void): RascalBroker;
  on(event: 'connect' | 'disconnect', fn: () => void): RascalBroker;
  subscribe(name: string, overrides?: Record<string, unknown>): Promise<RascalSession>;
  publish(name: string, content: unknown, overrides?: Record<string, unknown>): Promise<RascalPublication>;
  shutdown(): Promise<void>;
}

const init = workerData as ReplicaInit;
const port = parentPort!;
const send = (message: FromReplica) => port.postMessage(message);
const log = createLogger({
  level: init.logLevel,
  pretty: init.pretty,
  base: { function: init.fn.name, replica: init.replica, version: init.version },
});
const stats = new ReplicaStats(init.stats);

async function main(): Promise<void> {
  const heartbeat = setInterval(() => {
    stats.beat(Date.now());
    checkMemory();
  }, 200);
  stats.beat(Date.now());
  const handler = await loadHandler(init.bundleFile, init.fn.file);
  const validate = init.fn.schema ? compileMessageSchema(init.fn.schema) : null;
  const broker = (await (rascal as unknown as { BrokerAsPromised: { create(c: unknown): Promise<RascalBroker> } }).BrokerAsPromised.create(init.rascal)) as RascalBroker;
  // rascal reconnects and resubscribes on its own; these only report.
  broker.on('error', (err) => log.warn({ err }, 'broker connection error; reconnecting'));
  broker.on('disconnect', () => {
    log.warn('disconnected from the broker; reconnecting');
    send({ type: 'connection', up: false });
  });
  broker.on('connect', () => {
    log.info('connected to the broker again');
    send({ type: 'connection', up: true });
  });

  const publish: Publish = async (publication, content, { routingKey, properties = {} }) => {
    const { userId: _userId, deliveryMode, ...options } = properties;
    const overrides: Record<string, unknown> = { options: { ...options, persistent: deliveryMode !== 1 } };
    if (routingKey !== undefined) overrides.routingKey = routingKey;
    const pub = await broker.publish(publication, content, overrides).catch((err: Error) => {
      throw new Error(/Unknown publication/.test(err.message) ? `no exchange or queue "${publication.slice(2)}" is declared in queues.yaml` : err.message);
    });
    const strict = publication.startsWith('q:');
    await new Promise<void>((resolve, reject) => {
      let returned = false;
      pub
        .on('return', () => {
          returned = true;
        })
        .on('success', () => {
          if (returned && strict) reject(new Error(`the broker could not route to ${publication.slice(2)}`));
          else {
            if (returned) log.warn({ publication, routingKey }, 'published message was unroutable: no queue is bound for it');
            resolve();
          }
        })
        .on('error', (err) => reject(err));
    });
  };

  const processor = createProcessor({
    fn: init.fn,
    version: init.version,
    queueType: init.queueType,
    handler,
    validate,
    publish,
    log,
    stats,
    now: () => performance.now(),
    onStuck: (reason) => {
      log.error({ reason }, 'recycling this replica');
      send({ type: 'stuck', reason });
    },
  });

  const inFlight = new Set<Settle>();
  // Strict order needs one message at a time: with more unacked, handlers would run side by side
  // and a crash would return several messages at once. `ordered` therefore overrides `prefetch`.
  if (init.fn.ordered && init.fn.prefetch > 1) log.warn({ prefetch: init.fn.prefetch }, 'ordered: true takes one message at a time; prefetch is ignored');
  const session = await broker.subscribe(`fn:${init.fn.name}`, init.fn.ordered ? { prefetch: 1 } : {});
  session.on('error', (err) => log.warn({ err }, 'subscription error; rascal resubscribes'));
  session.on('message', (message, _content, ackOrNack) => {
    const settle = new Settle(
      () => new Promise<void>((resolve, reject) => ackOrNack((err?: Error) => (err ? reject(err) : resolve()))),
      (requeue) =>
        new Promise<void>((resolve, reject) =>
          ackOrNack(new Error('requeue'), { strategy: 'nack', requeue }, (err?: Error) => (err ? reject(err) : resolve())),
        ),
    );
    inFlight.add(settle);
    void processor.handle(message, settle).finally(() => inFlight.delete(settle));
  });
  send({ type: 'ready' });
  log.debug('consuming');

  port.on('message', (message: ToReplica) => {
    if (message.type === 'drain') void drain(message.graceMs);
  });

  let draining = false;
  async function drain(graceMs: number): Promise<void> {
    if (draining) return;
    draining = true;
    // Stop taking messages; rascal's cancel waits for the in-flight ones to settle.
    const cancelled = session.cancel().catch((err: Error) => log.warn({ err }, 'cancel failed'));
    const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
    if ((await Promise.race([cancelled.then(() => 'done' as const), deadline])) === 'late') {
      processor.abortAll();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    let requeued = 0;
    for (const settle of inFlight) if (await settle.requeue().catch(() => false)) requeued++;
    if (requeued) log.warn({ requeued }, 'requeued messages still running at the end of the grace period');
    await Promise.race([cancelled, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    await broker.shutdown().catch((err: Error) => log.warn({ err }, 'broker shutdown failed'));
    clearInterval(heartbeat);
    send({ type: 'drained', requeued });
    log.flush();
    port.close();
  }
}

/**
 * The thread's heap limit (resourceLimits) does not cover Buffers and other memory outside the V8
 * heap, so a handler leaking Buffers would grow without bound: past `memory`, ask to be recycled.
 */
let overMemory = false;
function checkMemory(): void {
  if (overMemory) return;
  const { external_memory: external } = getHeapStatistics() as ReturnType<typeof getHeapStatistics> & { external_memory?: number };
  // The young generation is garbage waiting for its next scavenge more than memory in use: left out.
  let heap = 0;
  for (const space of getHeapSpaceStatistics()) if (space.space_name !== 'new_space') heap += space.space_used_size;
  const usedMb = Math.round((heap + (external ?? 0)) / 2 ** 20);
  if (usedMb <= init.fn.memoryMb) return;
  overMemory = true;
  const reason = `over its memory limit: ${usedMb} MiB in use (heap and buffers), memory is ${init.fn.memoryMb} MiB`;
  log.error({ usedMb, limitMb: init.fn.memoryMb }, `${reason}; recycling this replica (raise \`memory:\` in queues.yaml if the function needs more)`);
  send({ type: 'memory', reason });
}

main().catch((err: Error & { code?: string }) => {
  log.error({ err }, 'replica failed to start');
  send({ type: 'fatal', message: err.message, code: err.code });
  log.flush();
  // Let the supervisor see the message before the thread ends.
  setTimeout(() => process.exit(1), 50);
});
