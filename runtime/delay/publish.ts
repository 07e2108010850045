/** ctx.publish(…, { delay }): the message enters the delay ladder (./ladder.ts) instead of its exchange. */
import type { MessageProperties } from '../replica/delivery';
import type { Publish } from '../replica/handler-context';
import { toExchange } from '../replica/publish-target';
import { delayedPublish, parseDelay } from './ladder';
import { withHeaders } from '../connection/publish-options';

export function publishDelayed(
  publish: Publish,
  exchange: string,
  routingKey: string,
  body: unknown,
  properties: MessageProperties,
  delay: string | number,
  now: () => number = Date.now,
): Promise<void> {
  let ms: number;
  try {
    ms = parseDelay(delay);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const route = delayedPublish(exchange, routingKey, ms, properties.headers, now());
  return publish(toExchange(route.exchange), body, {
    routingKey: route.routingKey,
    properties: withHeaders(properties, route.headers),
    delayMs: ms,
    delayedTo: exchange,
  });
}
