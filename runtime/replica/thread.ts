/**
 * Entry of one replica thread (the script Node runs as the worker thread; built to dist/worker.js): its own connection, channel and prefetch consuming the function's
 * queue (./consumer.ts), a confirm channel on the same connection for publishing (outputs, retries,
 * dead letters, ctx.publish: ./publisher.ts), the handler bundle loaded in-thread. A crash, exit or
 * out-of-memory here ends this thread only; the broker returns its unacked messages to the queue.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { createLogger, flushLogsNow } from '../log';
import { WarrenError } from '../errors';
import { effectiveBatch, effectivePrefetch } from '../config/prefetch';
import { sleep } from '../lib/sleep';
import { loadHandler } from '../functions/load';
import { createProcessor, type Processor, type Publish } from './process';
import { createBatchProcessor, type PartialBatch } from './batch/process-batch';
import { SharedRate } from '../ratelimit/shared-rate';
import type { BatchHandler } from '../index';
import { QueueConsumer } from './consumer';
import { Publisher } from './publisher';
import { spreadOffset } from '../connection/urls';
import { ReplicaStats } from '../replica-protocol/stats';
import { compileMessageSchema } from './schema';
import type { FromReplica, ReplicaInit, ToReplica } from '../replica-protocol/messages';
import { ClearedKeys } from '../replica-protocol/cleared-keys';
import { LossGrace } from '../replica-protocol/loss-grace';
import { firstReturn, type Forgiveness, type IsCleared } from './suspects';
import { AfterDeath, ForgivenDeliveries } from '../replica-protocol/forgiven';
import { IsolationSlots } from '../replica-protocol/isolation-slots';
import { Placement } from '../replica-protocol/placement';
import { clearLost, messageKey } from './lost-connection';
import { FailureReports } from '../replica-protocol/recent-failures';

const init = workerData as ReplicaInit;
const port = parentPort!;
const send = (message: FromReplica) => port.postMessage(message);
// Written at once (a write to stdout per line): a thread that ends (process.exit, a throw, the
// watchdog) took the lines still buffered with it, the very lines that said why. A handler that logs
// every message pays a few µs per line for it.
const log = createLogger({
  level: init.logLevel,
  pretty: init.pretty,
  sync: true,
  base: { function: init.fn.name, replica: init.replica, version: init.version },
});
const stats = new ReplicaStats(init.stats);
const failures = new FailureReports((failure) => send({ type: 'failure', failure }));

/**
 * An error nothing caught (a throw outside the handler's promise, a promise the handler left to reject)
 * ends this thread, as Node would end it. First the acks held back (to be coalesced, or kept back for
 * a drain or a pause) are written to the socket, so messages already settled are not run again; those
 * in flight return to the queue with the thread.
 */
let flushAcksNow: (() => void) | null = null;
function endOnUncaught(err: unknown): void {
  process.off('uncaughtException', endOnUncaught);
  process.off('unhandledRejection', endOnUncaught);
  try {
    flushAcksNow?.();
  } catch {
    // the channel is gone: the broker has those messages back anyway
  }
  const error = err instanceof Error ? err : new Error(`a promise was rejected with ${String(err)} and nothing caught it`);
  flushLogsNow(log);
  // Written already; a pass or two of the event loop lets the socket take them before the thread ends.
  setImmediate(() =>
    setImmediate(() => {
      throw error;
    }),
  );
}
process.on('uncaughtException', endOnUncaught);
process.on('unhandledRejection', endOnUncaught);
/**
 * A handler calls process.exit(): the thread ends at once, with no pass of the event loop after this
 * one. The acks of messages already handled are written to the socket now, so they do not run again.
 */
process.on('exit', () => {
  try {
    flushAcksNow?.();
  } catch {
    // the socket is gone: the broker has those messages back anyway
  }
  // The handler's last lines (why it exits) are still in the logger's buffer.
  flushLogsNow(log);
});
/** A held replica's go (true) or drain before it ever consumed (false); listened for from the start. */
const released: Promise<boolean> = init.held
  ? new Promise((resolve) => {
      const onMessage = (message: ToReplica) => {
        if (message.type !== 'consume' && message.type !== 'drain') return;
        port.off('message', onMessage);
        resolve(message.type === 'consume');
      };
      port.on('message', onMessage);
    })
  : Promise.resolve(true);
/**
 * A drain asked for before the replica consumes (a SIGTERM while it loads its handler or subscribes)
 * is kept for when it does: dropped, the supervisor would wait out the grace period and then some.
 */
let drainAsked: number | null = null;
let onDrain: ((graceMs: number) => void) | null = null;
port.on('message', (message: ToReplica) => {
  if (message.type !== 'drain') return;
  if (onDrain) onDrain(message.graceMs);
  else drainAsked ??= message.graceMs;
});

async function main(): Promise<void> {
  const heartbeat = setInterval(() => {
    stats.beat(Date.now());
    checkMemory();
  }, 200);
  stats.beat(Date.now());
  // Messages handed back because a replica lost its connection run as fresh ones (./lost-connection.ts).
  const cleared = new ClearedKeys();
  cleared.add(init.cleared ?? []);
  const clear = (keys: string[]) => {
    cleared.add(keys);
    send({ type: 'cleared', keys });
  };
  // And so do the ones handed back for the first time just after a loss: deliveries no replica saw (../replica-protocol/loss-grace.ts).
  const grace = new LossGrace();
  if (init.graceUntil) grace.extend(init.graceUntil);
  const isCleared: IsCleared = (delivery, facts) => {
    if (cleared.size > 0 && cleared.has(messageKey(delivery))) return true;
    if (!grace.isOpen() || !firstReturn(facts)) return false;
    log.debug({ messageId: delivery.properties.messageId }, 'handed back for the first time just after a lost connection: runs as a fresh message');
    return true;
  };

  // A suspect that waited unstarted in a replica that died comes back counted one delivery fewer (../replica-protocol/forgiven.ts).
  const forgivenDeliveries = new ForgivenDeliveries();
  forgivenDeliveries.add(init.forgiven ?? []);
  // Replacing a replica that died: what it handed back that had waited aside and did not run there is forgiven too.
  const afterDeath = new AfterDeath();
  if (init.afterDeath) afterDeath.died(init.afterDeath.guilty, init.afterDeath.until);
  const forgiven: Forgiveness = {
    deliveries: forgivenDeliveries,
    afterDeath,
    forgave: (key, named) => {
      log.info({ key }, 'handed back by a replica that died before it started: that delivery is not counted against it');
      if (named) send({ type: 'forgave', key });
    },
    runs: (key) => send({ type: 'suspect-runs', key }),
    moving: (keys) => send({ type: 'moving', keys: [...keys] }),
    unstarted: (keys) => {
      // They start: said in shared memory first, read by the supervisor even if this replica dies at once.
      if (keys.length === 0) stats.groupStarted();
      send({ type: 'unstarted', keys: [...keys], group: stats.groupsStarted + (keys.length === 0 ? 0 : 1) });
    },
  };

  // What the supervisor tells of the function's other replicas is taken from the start, before this
  // one consumes: a message handed back by a death this replica has not heard of could be forgiven.
  let lastDeath = init.lastDeath;
  let deathSeen: ((reason: string) => void) | null = null;
  port.on('message', (message: ToReplica) => {
    if (message.type === 'death') {
      lastDeath = message.reason;
      deathSeen?.(message.reason);
      // The death may be one of the cleared messages' doing: they are suspects again.
      cleared.clear();
      grace.died();
      afterDeath.close();
    } else if (message.type === 'cleared') cleared.add(message.keys);
    else if (message.type === 'forgiven') forgivenDeliveries.add(message.keys);
    else if (message.type === 'forgave') forgivenDeliveries.take(message.key);
    else if (message.type === 'suspect-runs') afterDeath.runsElsewhere(message.key);
    else if (message.type === 'grace') grace.extend(message.until);
  });

  const handler = await loadHandler(init.bundleFile, init.fn.file);
  const validate = init.fn.schema ? await compileMessageSchema(init.fn.schema) : null;
  const publisher = new Publisher(new Set(init.connection.exchanges), log, new Set(init.connection.internalExchanges), (exchange) =>
    send({ type: 'exchange-missing', exchange }),
  );
  const publish: Publish = (target, content, { routingKey, properties = {}, delayedTo }) =>
    publisher.publish(target, content, routingKey, properties, delayedTo);

  const rate = init.rateLimit && init.fn.rateLimit ? new SharedRate(init.rateLimit, init.fn.rateLimit.count, init.fn.rateLimit.periodMs) : null;
  const common = {
    version: init.version,
    queueType: init.queueType,
    validate,
    publish,
    log,
    stats,
    // The module's performance, not the global: the global is a getter, read twice per message.
    now: () => performance.now(),
    ...(lastDeath ? { lastDeath } : {}),
    onStuck: (reason: string) => {
      log.error({ reason }, 'recycling this replica');
      send({ type: 'stuck', reason });
    },
    // Only a scheduled function's queue holds ticks: the others do not look for one in every message.
    ...(init.fn.schedule ? { onTick: (scheduledAt: string, outcome: string) => send({ type: 'tick', scheduledAt, outcome }) } : {}),
    onFailure: failures.note,
    ...(rate ? { waitTurn: (n: number, start: () => void) => rate.turn(n, start) } : {}),
    flushAcks: () => consumer.flushAcks(),
    subscription: { pause: () => consumer.pause(), resume: () => consumer.resume(), syncAcks: () => consumer.syncAcks() },
    isCleared,
    forgiven,
    isolation: init.isolation ? new IsolationSlots(init.isolation, init.replica) : null,
  };
  // capped by rateLimit (runtime/config/prefetch.ts)
  const { batch } = effectiveBatch(init.fn);
  const processor: Omit<Processor, 'handle'> & { flush?: () => PartialBatch } = batch
    ? createBatchProcessor({ ...common, fn: { ...init.fn, batch }, handler: handler as unknown as BatchHandler })
    : createProcessor({ ...common, fn: init.fn, handler });
  deathSeen = (reason) => processor.deathSeen(reason);

  // ordered, batch and rateLimit change the written prefetch (runtime/config/prefetch.ts); the
  // supervisor says so once per function at start.
  const { url, socketOptions } = init.connection;
  const consumer = new QueueConsumer({
    url,
    ...(socketOptions ? { socketOptions } : {}),
    // Replicas (and pods, and functions) begin at different nodes of a cluster, so the load spreads.
    startAt: spreadOffset(init.fn.name, init.replica, process.pid),
    ...(init.placement ? { placement: new Placement(init.placement, init.replica) } : {}),
    queue: init.fn.queue,
    prefetch: effectivePrefetch(init.fn).prefetch,
    log,
    onConnection: (up, node) => {
      // Its own grace at once; the supervisor tells the other replicas.
      if (up) grace.reconnected();
      else grace.lost();
      send({ type: 'connection', up, node });
    },
    onReconnectFailed: (problem) => send({ type: 'reconnect-failed', problem }),
    onLost: (recent) => {
      const { now, later } = clearLost(recent, clear);
      if (now + later > 0)
        log.info(
          { cleared: now, inHand: later },
          'the messages this replica held come back from the broker; they run again as fresh ones, not as suspects (a lost connection is no evidence against them)',
        );
    },
    attach: (connection) => publisher.use(connection),
    onQueueMissing: () => send({ type: 'queue-missing' }),
    onMessage: (delivery, settle) => processor.take(delivery, settle),
  });
  flushAcksNow = () => consumer.flushAcksNow();
  /** The thread's last words: it has nothing more in hand; with the port closed it ends. */
  const finish = (requeued: number): void => {
    clearInterval(heartbeat);
    send({ type: 'drained', requeued });
    log.flush();
    port.close();
  };
  // Stopped before the topology was declared, or before it subscribed: nothing was consumed, nothing to hand back.
  if (!(await released) || drainAsked !== null) return finish(0);
  send({ type: 'subscribing' });
  await consumer.start();
  send({ type: 'ready', node: consumer.node });
  log.info({ node: consumer.node }, 'consuming');

  onDrain = (graceMs) => void drain(graceMs);
  if (drainAsked !== null) onDrain(drainAsked);

  let draining = false;
  async function drain(graceMs: number): Promise<void> {
    if (draining) return;
    draining = true;
    // Stop taking messages (a batch function hands over its partial batch now), give back at once
    // those still waiting for a rate-limit turn (they never started), then let the ones running
    // finish for up to the grace period.
    // An ordered function's message finishes first: the standby consumer takes the next one only then.
    if (init.fn.ordered) await consumer.cancel(() => processor.inFlight.size === 0, graceMs);
    else await consumer.cancel();
    const partial = processor.flush?.() ?? { items: 0, waitingForTurn: 0, started: false };
    // The partial batch, if the rate limit had no turn for it now, is among those handed back: said apart.
    const handedBack = processor.handBackWaiting() - partial.waitingForTurn;
    if (handedBack) log.info({ handedBack }, 'handed back messages still waiting for their rate-limit turn, unstarted');
    if (partial.waitingForTurn)
      log.info(
        { handedBack: partial.waitingForTurn },
        'handed back to the queue, unstarted, messages that were waiting for their batch to fill: the rate limit had no turn free for them now',
      );
    else if (partial.started)
      log.info({ items: partial.items }, 'running the messages that were waiting for their batch to fill now, as one batch, before stopping');
    const deadline = Date.now() + graceMs;
    const { inFlight } = processor;
    while (inFlight.size > 0 && Date.now() < deadline) await sleep(20);
    if (inFlight.size > 0) {
      processor.abortAll();
      await sleep(100);
    }
    let requeued = 0;
    for (const settle of [...inFlight]) if (settle.requeue()) requeued++;
    if (requeued) log.warn({ requeued }, 'requeued messages still running at the end of the grace period');
    await consumer.close();
    finish(requeued);
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
  // The supervisor logs every start failure; the thread adds the stack of one Warren did not foresee.
  if (!(err instanceof WarrenError)) log.error({ err }, 'replica failed to start');
  const details =
    err instanceof WarrenError ? { file: err.details.file, line: err.details.line, column: err.details.column, hint: err.details.hint } : undefined;
  send({ type: 'fatal', message: err.message, code: err.code, ...(details ? { details } : {}) });
  log.flush();
  // Let the supervisor see the message before the thread ends.
  setTimeout(() => process.exit(1), 50);
});
