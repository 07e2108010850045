/** ctx.publish(…, { delay }) with a delay over zero, read by the caller: the message enters the delay ladder (./ladder.ts) instead of its exchange. */
import type { MessageProperties } from '../replica/delivery';
import type { Publish } from '../replica/handler-context';
import { toExchange } from '../replica/publish-target';
import { delayedPublish } from './ladder';
import { withHeaders } from '../connection/publish-options';

export function publishDelayed(
  publish: Publish,
  exchange: string,
  routingKey: string,
  body: unknown,
  properties: MessageProperties,
  /** the delay, already read (parseDelay) and more than zero */
  ms: number,
  now: () => number = Date.now,
): Promise<void> {
  const route = delayedPublish(exchange, routingKey, ms, properties.headers, now());
  return publish(toExchange(route.exchange), body, {
    routingKey: route.routingKey,
    properties: withHeaders(properties, route.headers),
    delayMs: ms,
    delayedTo: exchange,
  });
}
