/**
 * What handler files import (`import type { Handler } from '../runtime'`, or `from 'warren'` outside
 * this repository). Every handler is bundled on its own, so this module must stay small and free of
 * runtime dependencies: it is copied into each bundle.
 */

export interface Logger {
  trace(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface PublishOptions {
  headers?: Record<string, unknown>;
  messageId?: string;
  contentType?: string;
  persistent?: boolean;
  /** for a reply: the request's `ctx.properties.correlationId` */
  correlationId?: string;
  /** for a request: the queue its reply should go to */
  replyTo?: string;
  type?: string;
  appId?: string;
  /** 0-255, for a queue declared with `x-max-priority` */
  priority?: number;
  /**
   * Deliver after this long: a duration (`'90s'`, `'1h30m'`) or whole milliseconds (a fraction or a
   * negative number is refused, and ctx.publish throws). The message waits in the broker (a ladder
   * of TTL queues, no plugin), so restarts lose nothing; up to about 36 h.
   */
  delay?: string | number;
}

/**
 * The AMQP properties the producer set on a message, besides its headers and message id (fields of
 * their own): what a reply needs (`replyTo`, `correlationId`) and the rest as RabbitMQ delivered
 * them; a property not set is absent. A retry or a replay carries them unchanged.
 */
export interface AmqpProperties {
  contentType?: string;
  contentEncoding?: string;
  correlationId?: string;
  replyTo?: string;
  type?: string;
  appId?: string;
  userId?: string;
  /** seconds since the epoch, as AMQP carries it */
  timestamp?: number;
  priority?: number;
  expiration?: string;
  /** false for a message published transient (delivery mode 1) */
  persistent: boolean;
}

export interface Context {
  /** pino child logger carrying function, replica, messageId and attempt */
  log: Logger;
  /** publish to an exchange with a publisher confirm; resolves once the broker confirmed */
  publish(exchange: string, routingKey: string, body: unknown, options?: PublishOptions): Promise<void>;
  /** the original bytes of the message */
  raw: Buffer;
  headers: Record<string, unknown>;
  routingKey: string;
  exchange: string;
  messageId: string | undefined;
  /** correlationId, replyTo and the message's other AMQP properties (answer a request with `ctx.publish('', replyTo, …, { correlationId })`) */
  properties: AmqpProperties;
  /** 1-based: 1 on the first run, 2 on the first retry, … */
  attempt: number;
  /** aborted at the function's timeout and at shutdown */
  signal: AbortSignal;
  /** the function's name */
  functionName: string;
}

export type Handler<In = unknown, Out = unknown> = (message: In, ctx: Context) => Out | Promise<Out>;

/** One message of a batch (a function with `batch:` in queues.yaml). */
export interface BatchItem<T = unknown> {
  /** the decoded body (invalid JSON and schema failures never reach the handler) */
  body: T;
  messageId: string | undefined;
  headers: Record<string, unknown>;
  properties: AmqpProperties;
  /** where it was first published: a retried or replayed item shows its original route, as ctx does */
  routingKey: string;
  exchange: string;
  /** 1-based, per item: each item goes through its own retries */
  attempt: number;
  /** the original bytes */
  raw: Buffer;
}

/**
 * Indexes into the items: `failed` go through their own retries and dead letters, `rejected` are
 * dead-lettered at once, every other item is acked. Returning nothing: all succeeded.
 */
export interface BatchResult {
  failed?: number[];
  rejected?: number[];
}

/** What a batch handler's ctx holds: what is per message lives on each item instead. */
export type BatchContext = Pick<Context, 'log' | 'publish' | 'signal' | 'functionName'>;

/**
 * Throwing fails every item; `timeout` covers the whole batch, and a call that times out runs each of
 * its items again alone, so that only an item that hangs on its own fails.
 */
export type BatchHandler<T = unknown> = (items: Array<BatchItem<T>>, ctx: BatchContext) => BatchResult | void | Promise<BatchResult | void>;

const REJECT_BRAND = Symbol.for('warren.reject');

/**
 * Throw `new Reject('why')` to dead-letter a message at once, without retries. Recognised by a
 * global symbol rather than `instanceof`, because each handler bundle carries its own copy of this class.
 */
export class Reject extends Error {
  readonly [REJECT_BRAND] = true;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'Reject';
  }
}

export function isReject(err: unknown): err is Error {
  try {
    return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[REJECT_BRAND] === true;
  } catch {
    // a proxy whose traps throw: not a Reject
    return false;
  }
}
