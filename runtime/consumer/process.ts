/**
 * One replica's core loop for one message: decode, validate, run the handler, decide, settle.
 * Collaborators (publisher, settle functions, clock, logger) are passed in, so this reads top to
 * bottom and is exercised by the integration tests through a real broker.
 *
 * THE RULE: every delivered message is settled exactly once (ack, or nack with requeue), on every
 * path, errors included. `Delivery.settle` enforces it; nothing else touches the channel.
 */
import type { Logger } from 'pino';
import type { Context, Handler, PublishOptions } from '../index';
import { isReject } from '../index';
import type { FunctionConfig } from '../config/types';
import { decodeBody } from './decode';
import { decideSettlement, type Outcome, type Settlement } from './outcome';
import { attemptOf, deadLetterHeaders, originalRoute, retryHeaders, H, copyHeaders } from './headers';
import type { ReplicaStats } from './stats';
import { deadQueueName } from '../topology/names';

export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: Record<string, unknown>;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  timestamp?: number;
  type?: string;
  appId?: string;
  deliveryMode?: number;
  priority?: number;
  expiration?: string;
  userId?: string;
}

export interface Delivery {
  content: Buffer;
  properties: MessageProperties;
  fields: { exchange: string; routingKey: string; redelivered: boolean };
}

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
}

/** The settle primitives of one delivery, guarded so only the first call reaches the broker. */
export class Settle {
  private done = false;
  constructor(
    private readonly ackFn: () => Promise<void>,
    private readonly nackFn: (requeue: boolean) => Promise<void>,
  ) {}
  get settled(): boolean {
    return this.done;
  }
  async ack(): Promise<boolean> {
    if (this.done) return false;
    this.done = true;
    await this.ackFn();
    return true;
  }
  async requeue(): Promise<boolean> {
    if (this.done) return false;
    this.done = true;
    await this.nackFn(true);
    return true;
  }
}

const STUCK_GRACE_MS = 1_000;

export function createProcessor(deps: ProcessorDeps) {
  const { fn, log, stats } = deps;
  const shutdown = new AbortController();

  async function handle(delivery: Delivery, settle: Settle): Promise<void> {
    const started = deps.now();
    stats.enter();
    let counted: 'acked' | 'retried' | 'dead' | 'dropped' | null = null;
    try {
      counted = await run(delivery, settle);
    } catch (err) {
      // A publish or ack failed on the way out: leave the message to the broker.
      log.error({ err, messageId: delivery.properties.messageId }, 'could not settle the message; it is returned to the queue');
      await settle.requeue().catch(() => undefined);
    } finally {
      const durationMs = deps.now() - started;
      stats.leave(durationMs);
      if (counted) stats.count(counted);
    }
  }

  async function run(delivery: Delivery, settle: Settle): Promise<'acked' | 'retried' | 'dead' | 'dropped' | null> {
    const { content, properties, fields } = delivery;
    const headers = properties.headers ?? {};
    if (fields.redelivered) stats.count('redelivered');
    const attempt = attemptOf(headers);
    const route = originalRoute(headers, fields);
    let outcome: Outcome;
    if (fields.redelivered && deps.queueType === 'classic') {
      const overLimit = await countClassicRedelivery(delivery, settle);
      if (!overLimit) return null;
      outcome = { kind: 'delivery-limit', error: new Error(`redelivered more than ${fn.redeliveryLimit} times (a replica died or hung while handling it)`) };
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
   * Classic queues keep no delivery count, so a redelivered message (its replica died, or it was
   * requeued) is copied back to the queue with the count in a header before its next run. Returns
   * true when the limit is reached and the message must be dead-lettered instead.
   */
  async function countClassicRedelivery(delivery: Delivery, settle: Settle): Promise<boolean> {
    const headers = delivery.properties.headers ?? {};
    const redeliveries = (Number(headers[H.redeliveries]) || 0) + 1;
    if (redeliveries > fn.redeliveryLimit) return true;
    const copy: Record<string, unknown> = { ...copyHeaders(headers), [H.redeliveries]: redeliveries };
    const route = originalRoute(headers, delivery.fields);
    copy[H.exchange] = route.exchange;
    copy[H.routingKey] = route.routingKey;
    await deps.publish(`q:${fn.queue}`, delivery.content, { properties: { ...delivery.properties, headers: copy } });
    await settle.ack();
    return false;
  }

  async function runHandler(delivery: Delivery, attempt: number): Promise<Outcome> {
    const decoded = decodeBody(delivery.content, delivery.properties.contentType);
    if (!decoded.ok) return { kind: 'invalid-json', error: decoded.error };
    if (deps.validate) {
      const problem = deps.validate(decoded.value);
      if (problem) return { kind: 'schema', error: new Error(`schema validation failed: ${problem}`) };
    }
    const controller = new AbortController();
    const abortOnShutdown = () => controller.abort(new Error('replica shutting down'));
    shutdown.signal.addEventListener('abort', abortOnShutdown, { once: true });
    const ctx = makeContext(delivery, attempt, controller.signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), fn.timeout);
    });
    const running = (async () => deps.handler(decoded.value, ctx))();
    try {
      const result = await Promise.race([running, timedOut]);
      if (result === 'timeout') {
        controller.abort(new Error(`timed out after ${fn.timeout} ms`));
        watchForStuckHandler(running);
        return { kind: 'error', error: new Error(`handler timed out after ${fn.timeout} ms`), timedOut: true };
      }
      return { kind: 'ok', value: result };
    } catch (err) {
      const error = wrap(err, 'handler threw a non-error');
      return isReject(err) ? { kind: 'reject', error } : { kind: 'error', error, timedOut: false };
    } finally {
      clearTimeout(timer);
      shutdown.signal.removeEventListener('abort', abortOnShutdown);
    }
  }

  /** A handler that ignores its aborted signal may hold memory or sockets forever: recycle the replica. */
  function watchForStuckHandler(running: Promise<unknown>): void {
    let finished = false;
    running.then(
      () => (finished = true),
      () => (finished = true),
    );
    setTimeout(() => {
      if (!finished) deps.onStuck(`a handler ignored ctx.signal and is still running ${STUCK_GRACE_MS} ms after its timeout`);
    }, STUCK_GRACE_MS).unref();
  }

  function makeContext(delivery: Delivery, attempt: number, signal: AbortSignal): Context {
    const { properties, fields } = delivery;
    let childLog: Logger | undefined;
    return {
      get log() {
        childLog ??= log.child({ messageId: properties.messageId, attempt });
        return childLog;
      },
      publish: (exchange: string, routingKey: string, body: unknown, options?: PublishOptions) => publishFromHandler(exchange, routingKey, body, options),
      raw: delivery.content,
      headers: properties.headers ?? {},
      routingKey: fields.routingKey,
      exchange: fields.exchange,
      messageId: properties.messageId,
      attempt,
      signal,
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
