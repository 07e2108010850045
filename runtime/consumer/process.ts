/**
 * One replica's core loop for one message: decode, validate, run the handler, decide, settle.
 * Collaborators (publisher, settle functions, clock, logger) are passed in, so this reads top to
 * bottom and is exercised by the integration tests through a real broker.
 *
 * THE RULE: every delivered message is settled exactly once (ack, or nack with requeue), on every
 * path, errors included. `Settle` (./delivery.ts) enforces it; nothing else touches the channel.
 */
import type { Logger } from 'pino';
import type { Context, Handler, PublishOptions } from '../index';
import { isReject } from '../index';
import type { FunctionConfig } from '../config/types';
import { decodeBody } from './decode';
import { decideSettlement, type Outcome, type Settlement } from './outcome';
import { attemptOf, deadLetterHeaders, originalRoute, retryHeaders, H, copyHeaders } from './headers';
import type { ReplicaStats } from './stats';
import { deadQueueName, retryLadder, retryQueueName } from '../topology/names';
import { admit, IsolationGate, type Admission } from './suspects';
import { publishDelayed } from '../delay/publish';
import { scheduledAtOf } from '../schedule/outcome';
import type { Delivery, MessageProperties, Settle } from './delivery';

export type { Delivery, MessageProperties } from './delivery';
export { Settle } from './delivery';

/** Publishes with a publisher confirm; resolves once the broker confirmed, rejects otherwise. */
export type Publish = (publication: string, content: unknown, options: { routingKey?: string; properties?: MessageProperties }) => Promise<void>;

export interface ProcessorDeps {
  fn: FunctionConfig;
  version: string;
  queueType: 'quorum' | 'classic';
  handler: Handler;
  /** null when the function has no schema */
  validate: ((value: unknown) => string | null) | null;
  publish: Publish;
  log: Logger;
  stats: ReplicaStats;
  now: () => number;
  /** the handler outlived its timeout and ignored ctx.signal: this replica should be recycled */
  onStuck: (reason: string) => void;
  /** a scheduled function's tick was settled (runtime/schedule/outcome.ts) */
  onTick?: (scheduledAt: string, outcome: string) => void;
}

const STUCK_GRACE_MS = 1_000;

export function createProcessor(deps: ProcessorDeps) {
  const { fn, log, stats } = deps;
  const shutdown = new AbortController();
  const gate = new IsolationGate();
  // Moved messages wait in the shortest retry queue, so a long-running suspect does not make the
  // replica spin through the same few messages; without retries they go to the back of the queue.
  const shortest = retryLadder(fn.retry)[0];
  const parking = shortest === undefined ? fn.queue : retryQueueName(fn.queue, shortest);

  /** Called once per delivery, synchronously on arrival (the gate's order depends on it). */
  function handle(delivery: Delivery, settle: Settle): Promise<void> {
    const facts = { headers: delivery.properties.headers, redelivered: delivery.fields.redelivered, queueType: deps.queueType };
    gate.arrived();
    const admission = admit(facts, fn.redeliveryLimit, { isolating: gate.isolating, ordered: fn.ordered });
    if (admission.action === 'run') return gate.run(admission.alone, () => settleOnce(delivery, settle, admission));
    if (admission.action === 'move') return gate.move(() => settleOnce(delivery, settle, admission));
    return settleOnce(delivery, settle, admission);
  }

  async function settleOnce(delivery: Delivery, settle: Settle, admission: Admission): Promise<void> {
    const started = deps.now();
    const timed = admission.action !== 'move';
    if (timed) stats.enter();
    let counted: 'acked' | 'retried' | 'dead' | 'dropped' | null = null;
    try {
      counted = await run(delivery, settle, admission);
    } catch (err) {
      // A publish or ack failed on the way out: leave the message to the broker.
      log.error({ err, messageId: delivery.properties.messageId }, 'could not settle the message; it is returned to the queue');
      await settle.requeue().catch(() => undefined);
    } finally {
      if (timed) stats.leave(deps.now() - started);
      if (counted) stats.count(counted);
      const tick = counted && deps.onTick ? scheduledAtOf(delivery.properties.headers) : undefined;
      if (tick) deps.onTick!(tick, counted!);
    }
  }

  async function run(delivery: Delivery, settle: Settle, admission: Admission): Promise<'acked' | 'retried' | 'dead' | 'dropped' | null> {
    const { content, properties, fields } = delivery;
    const headers = properties.headers ?? {};
    // Requeued at shutdown while it waited behind a suspect: it is the broker's again, do not run it.
    if (settle.settled) return null;
    if (fields.redelivered) stats.count('redelivered');
    if (admission.action === 'move') {
      await moveAside(delivery, settle, admission.redeliveries);
      return null;
    }
    if (admission.action === 'run' && admission.alone) log.warn({ messageId: properties.messageId }, 'running a message alone: it was in flight when a replica died or was requeued');
    const attempt = attemptOf(headers);
    const route = originalRoute(headers, fields);
    let outcome: Outcome;
    if (admission.action === 'dead') {
      outcome = { kind: 'delivery-limit', error: new Error(`delivered ${admission.redeliveries} times without being settled (a replica died or hung while handling it); redeliveryLimit is ${fn.redeliveryLimit}`) };
    } else if (content.length > fn.maxBodyBytes) {
      outcome = { kind: 'too-large', error: new Error(`body of ${content.length} bytes exceeds maxBodySize ${fn.maxBodyBytes}`) };
    } else {
      outcome = await runHandler(delivery, attempt);
    }
    let settlement = decideSettlement(fn, attempt, outcome);
    if (settlement.action === 'ack' && settlement.output) {
      try {
        await deps.publish(`x:${settlement.output.exchange}`, settlement.output.value, { routingKey: settlement.output.routingKey });
      } catch (err) {
        settlement = decideSettlement(fn, attempt, { kind: 'error', error: wrap(err, 'publishing the output failed'), timedOut: false });
      }
    }
    return carryOut(settlement, delivery, settle, attempt, route);
  }

  /**
   * Copy the message to the back of its queue (through the shortest retry queue) with its count of
   * unsettled deliveries in a header, then ack this delivery (see ./suspects.ts). A crash between the
   * two leaves a duplicate, never a loss.
   */
  async function moveAside(delivery: Delivery, settle: Settle, redeliveries: number): Promise<void> {
    const headers = delivery.properties.headers ?? {};
    const copy: Record<string, unknown> = { ...copyHeaders(headers) };
    if (redeliveries > 0) copy[H.redeliveries] = redeliveries;
    else delete copy[H.redeliveries];
    const route = originalRoute(headers, delivery.fields);
    copy[H.exchange] = route.exchange;
    copy[H.routingKey] = route.routingKey;
    await deps.publish(`q:${parking}`, delivery.content, { properties: { ...delivery.properties, headers: copy } });
    await settle.ack();
  }

  async function runHandler(delivery: Delivery, attempt: number): Promise<Outcome> {
    const decoded = decodeBody(delivery.content, delivery.properties.contentType);
    if (!decoded.ok) return { kind: 'invalid-json', error: decoded.error };
    if (deps.validate) {
      const problem = deps.validate(decoded.value);
      if (problem) return { kind: 'schema', error: new Error(`schema validation failed: ${problem}`) };
    }
    // The signal is made only when the handler reads ctx.signal: most never do, and an
    // AbortController per message is a measurable share of a no-op handler's cost.
    const abort = new LazyAbort(shutdown.signal);
    const ctx = makeContext(delivery, attempt, abort);
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = deps.handler(decoded.value, ctx);
      if (!isThenable(result)) return { kind: 'ok', value: result };
      const settled = await new Promise<{ value: unknown } | typeof TIMED_OUT>((resolve, reject) => {
        timer = setTimeout(() => resolve(TIMED_OUT), fn.timeout);
        result.then((value) => resolve({ value }), reject);
      });
      if (settled === TIMED_OUT) {
        abort.abort(new Error(`timed out after ${fn.timeout} ms`));
        watchForStuckHandler(result);
        return { kind: 'error', error: new Error(`handler timed out after ${fn.timeout} ms`), timedOut: true };
      }
      return { kind: 'ok', value: settled.value };
    } catch (err) {
      const error = wrap(err, 'handler threw a non-error');
      return isReject(err) ? { kind: 'reject', error } : { kind: 'error', error, timedOut: false };
    } finally {
      clearTimeout(timer);
      abort.release();
    }
  }

  /** A handler that ignores its aborted signal may hold memory or sockets forever: recycle the replica. */
  function watchForStuckHandler(running: PromiseLike<unknown>): void {
    let finished = false;
    running.then(
      () => (finished = true),
      () => (finished = true),
    );
    setTimeout(() => {
      if (!finished) deps.onStuck(`a handler ignored ctx.signal and is still running ${STUCK_GRACE_MS} ms after its timeout`);
    }, STUCK_GRACE_MS).unref();
  }

  function makeContext(delivery: Delivery, attempt: number, abort: LazyAbort): Context {
    const { properties, fields } = delivery;
    let childLog: Logger | undefined;
    return {
      get log() {
        childLog ??= log.child({ messageId: properties.messageId, attempt });
        return childLog;
      },
      get signal() {
        return abort.signal;
      },
      publish: (exchange: string, routingKey: string, body: unknown, options?: PublishOptions) => publishFromHandler(exchange, routingKey, body, options),
      raw: delivery.content,
      headers: properties.headers ?? {},
      routingKey: fields.routingKey,
      exchange: fields.exchange,
      messageId: properties.messageId,
      attempt,
      functionName: fn.name,
    };
  }

  function publishFromHandler(exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}): Promise<void> {
    const publication = exchange === '' ? `q:${routingKey}` : `x:${exchange}`;
    const properties: MessageProperties = {};
    if (options.headers) properties.headers = options.headers;
    if (options.messageId) properties.messageId = options.messageId;
    if (options.contentType) properties.contentType = options.contentType;
    if (options.persistent === false) properties.deliveryMode = 1;
    if (options.delay !== undefined) return publishDelayed(deps.publish, exchange, routingKey, body, properties, options.delay);
    return deps.publish(publication, body, { routingKey, properties });
  }

  async function carryOut(settlement: Settlement, delivery: Delivery, settle: Settle, attempt: number, route: { exchange: string; routingKey: string }) {
    const { content, properties } = delivery;
    const messageId = properties.messageId;
    switch (settlement.action) {
      case 'ack':
        await settle.ack();
        log.debug({ messageId, attempt }, 'handled');
        return 'acked';
      case 'retry':
        await deps.publish(`q:${settlement.queue}`, content, {
          properties: { ...properties, headers: retryHeaders(properties.headers, settlement.nextAttempt, route) },
        });
        await settle.ack();
        log.warn({ messageId, attempt, retryInMs: settlement.delayMs }, `attempt ${attempt} of ${fn.retry.attempts} failed; retrying in ${settlement.delayMs} ms`);
        return 'retried';
      case 'requeue':
        // Ordered functions keep the message's place: wait here, then hand it back to the broker.
        await sleep(settlement.delayMs, shutdown.signal);
        await settle.requeue();
        log.warn({ messageId, attempt }, `attempt ${attempt} of ${fn.retry.attempts} failed; retrying in place`);
        return 'retried';
      case 'dead': {
        const headers = deadLetterHeaders(properties.headers, {
          functionName: fn.name,
          version: deps.version,
          reason: settlement.reason,
          error: settlement.error,
          attempts: attempt,
          route,
          now: new Date(),
        });
        await deps.publish(`q:${settlement.queue}`, content, { properties: { ...properties, headers } });
        await settle.ack();
        log.error({ messageId, attempt, reason: settlement.reason, err: settlement.error }, `dead-lettered to ${settlement.queue}`);
        return 'dead';
      }
      case 'drop':
        await settle.ack();
        log.error({ messageId, attempt, reason: settlement.reason, err: settlement.error }, `message dropped: deadLetter is false for ${fn.name}`);
        return 'dropped';
    }
  }

  return {
    handle,
    /** Abort every running handler's ctx.signal (shutdown). */
    abortAll(): void {
      shutdown.abort();
    },
    deadQueue: deadQueueName(fn.queue),
  };
}

export type Processor = ReturnType<typeof createProcessor>;

const TIMED_OUT = Symbol('timed out');

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * A message's ctx.signal, made on first read. Aborted at the timeout, and at shutdown through the
 * replica's shutdown signal (listened to only while the handler runs and only if it read the signal).
 */
class LazyAbort {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private aborted = false;
  private readonly onShutdown = () => this.abort(new Error('replica shutting down'));

  constructor(private readonly shutdown: AbortSignal) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
      else if (this.shutdown.aborted) this.controller.abort(new Error('replica shutting down'));
      else this.shutdown.addEventListener('abort', this.onShutdown, { once: true });
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }

  /** The handler settled: stop listening for shutdown (the signal stays as it is). */
  release(): void {
    if (this.controller) this.shutdown.removeEventListener('abort', this.onShutdown);
  }
}

function wrap(err: unknown, fallback: string): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'object' && err !== null && 'message' in err) return Object.assign(new Error(String((err as { message: unknown }).message)), err);
  return new Error(err === undefined ? fallback : String(err));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
