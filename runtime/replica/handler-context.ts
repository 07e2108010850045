/** The `ctx` a handler receives for one delivery (SPEC §3); its publishes go through the replica's publisher. */
import type { Logger } from 'pino';
import type { Context, PublishOptions } from '../index';
import type { Delivery, MessageProperties } from './delivery';
import type { LazyAbort } from './lazy-abort';
import { toExchange, toQueue, type PublishTarget } from './publish-target';
import { originalRoute } from './headers';
import { publishDelayed } from '../delay/publish';

/** Publishes with a publisher confirm; resolves once the broker confirmed, rejects otherwise. */
export type Publish = (target: PublishTarget, content: unknown, options: { routingKey?: string; properties?: MessageProperties }) => Promise<void>;

export function makeContext(delivery: Delivery, attempt: number, abort: LazyAbort, deps: { functionName: string; log: Logger; publish: Publish }): Context {
  const { properties, fields } = delivery;
  // A retry or a replay arrives through the default exchange: the handler sees where it was first published.
  const route = originalRoute(properties.headers, fields);
  let childLog: Logger | undefined;
  return {
    get log() {
      childLog ??= deps.log.child({ messageId: properties.messageId, attempt });
      return childLog;
    },
    get signal() {
      return abort.signal;
    },
    publish: (exchange: string, routingKey: string, body: unknown, options?: PublishOptions) =>
      publishFromHandler(deps.publish, exchange, routingKey, body, options),
    raw: delivery.content,
    headers: properties.headers ?? {},
    routingKey: route.routingKey,
    exchange: route.exchange,
    messageId: properties.messageId,
    attempt,
    functionName: deps.functionName,
  };
}

/** `ctx.publish('', queue, ...)` addresses a queue through the default exchange, as in AMQP. */
export function publishFromHandler(publish: Publish, exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}): Promise<void> {
  const target = exchange === '' ? toQueue(routingKey) : toExchange(exchange);
  const properties: MessageProperties = {};
  if (options.headers) properties.headers = options.headers;
  if (options.messageId) properties.messageId = options.messageId;
  if (options.contentType) properties.contentType = options.contentType;
  if (options.persistent === false) properties.deliveryMode = 1;
  if (options.delay !== undefined) return publishDelayed(publish, exchange, routingKey, body, properties, options.delay);
  return publish(target, body, { routingKey, properties });
}
