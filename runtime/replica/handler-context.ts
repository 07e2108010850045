/** The `ctx` a handler receives for one delivery (SPEC §3); its publishes go through the replica's publisher. */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AmqpProperties, Context, PublishOptions } from '../index';
import { amqpProperties } from './amqp-properties';
import type { Delivery, MessageProperties } from './delivery';
import type { LazyAbort } from './lazy-abort';
import { toDefaultExchange, toExchange, type PublishTarget } from './publish-target';
import { originalRoute, visibleHeaders, type Route } from './headers';
import { publishDelayed } from '../delay/publish';
import { parseDelay } from '../delay/ladder';

/**
 * Publishes with a publisher confirm; resolves once the broker confirmed, rejects otherwise.
 * `delayMs`: set when the publish enters the delay ladder, the delay the handler asked for (the route
 * and headers already carry it; `warren invoke` shows it as written). `delayedTo`: then the exchange
 * the message is delivered to when due, which must exist now, as for a publish without a delay.
 */
export type Publish = (
  target: PublishTarget,
  content: unknown,
  options: { routingKey?: string; properties?: MessageProperties; delayMs?: number; delayedTo?: string },
) => Promise<void>;

/**
 * One message's ctx. A class rather than an object literal with getters: a literal makes a closure
 * per getter per message, while these getters live once on the prototype. What few handlers use (the
 * child logger, the signal, the original route of a retry) is made on first read.
 */
class MessageContext implements Context {
  readonly raw: Buffer;
  readonly messageId: string | undefined;
  readonly attempt: number;
  readonly functionName: string;
  readonly #delivery: Delivery;
  readonly #abort: LazyAbort;
  readonly #deps: ContextDeps;
  #log: Logger | undefined;
  #publish: Context['publish'] | undefined;
  #route: Route | undefined;
  #headers: Record<string, unknown> | undefined;
  #properties: AmqpProperties | undefined;

  constructor(delivery: Delivery, attempt: number, abort: LazyAbort, deps: ContextDeps) {
    this.raw = delivery.content;
    this.messageId = delivery.properties.messageId;
    this.attempt = attempt;
    this.functionName = deps.functionName;
    this.#delivery = delivery;
    this.#abort = abort;
    this.#deps = deps;
  }

  /** Read lazily: most handlers never look (./headers.ts, visibleHeaders). */
  get headers(): Record<string, unknown> {
    return (this.#headers ??= visibleHeaders(this.#delivery.properties.headers));
  }

  get properties(): AmqpProperties {
    return (this.#properties ??= amqpProperties(this.#delivery.properties));
  }

  get log(): Logger {
    return (this.#log ??= this.#deps.log.child({ messageId: this.messageId, attempt: this.attempt }));
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** A function of its own (not a method), so `const { publish } = ctx` works. */
  get publish(): Context['publish'] {
    const publish = this.#deps.publish;
    return (this.#publish ??= (exchange, routingKey, body, options) => publishFromHandler(publish, exchange, routingKey, body, options));
  }

  // A retry or a replay arrives through the default exchange: the handler sees where it was first published.
  get routingKey(): string {
    return this.#originalRoute().routingKey;
  }

  get exchange(): string {
    return this.#originalRoute().exchange;
  }

  #originalRoute(): Route {
    return (this.#route ??= originalRoute(this.#delivery.properties.headers, this.#delivery.fields));
  }
}

interface ContextDeps {
  functionName: string;
  log: Logger;
  publish: Publish;
}

export function makeContext(delivery: Delivery, attempt: number, abort: LazyAbort, deps: ContextDeps): Context {
  return new MessageContext(delivery, attempt, abort, deps);
}

/** `ctx.publish('', queue, ...)` addresses a queue through the default exchange, as in AMQP. */
export function publishFromHandler(publish: Publish, exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}): Promise<void> {
  const target = exchange === '' ? toDefaultExchange(routingKey) : toExchange(exchange);
  const properties: MessageProperties = {};
  if (options.headers) properties.headers = options.headers;
  // Every message gets an id, as `warren publish` gives one: the receiving function can count and
  // deduplicate by ctx.messageId, and its dead letters are found by it.
  properties.messageId = options.messageId || randomUUID();
  if (options.contentType) properties.contentType = options.contentType;
  if (options.persistent === false) properties.deliveryMode = 1;
  if (options.correlationId !== undefined) properties.correlationId = options.correlationId;
  if (options.replyTo !== undefined) properties.replyTo = options.replyTo;
  if (options.type !== undefined) properties.type = options.type;
  if (options.appId !== undefined) properties.appId = options.appId;
  if (options.priority !== undefined) {
    if (!isPriority(options.priority))
      return Promise.reject(
        new TypeError(`ctx.publish: priority must be an integer from 0 to 255, got ${JSON.stringify(options.priority) ?? String(options.priority)}`),
      );
    properties.priority = options.priority;
  }
  if (options.delay !== undefined) {
    let ms: number;
    try {
      ms = parseDelay(options.delay);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // A delay of zero publishes at once, straight to the exchange, as `warren publish --delay 0` does.
    if (ms > 0) return publishDelayed(publish, exchange, routingKey, body, properties, ms);
  }
  return publish(target, body, { routingKey, properties });
}

/** AMQP carries a priority in one octet; anything else would fail later, as an encoding error. */
function isPriority(priority: unknown): priority is number {
  return typeof priority === 'number' && Number.isInteger(priority) && priority >= 0 && priority <= 255;
}
