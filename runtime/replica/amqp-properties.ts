/** `ctx.properties` and a batch item's `properties`: the producer's AMQP properties as a handler reads them (runtime/index.ts AmqpProperties). */
import type { AmqpProperties } from '../index';
import type { MessageProperties } from './delivery';

/** Pure: the properties set on a delivery, headers and message id left to their own fields; frozen. */
export function amqpProperties(p: MessageProperties): AmqpProperties {
  const out: AmqpProperties = { persistent: p.deliveryMode !== 1 };
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding;
  if (p.correlationId !== undefined) out.correlationId = p.correlationId;
  if (p.replyTo !== undefined) out.replyTo = p.replyTo;
  if (p.type !== undefined) out.type = p.type;
  if (p.appId !== undefined) out.appId = p.appId;
  if (p.userId !== undefined) out.userId = p.userId;
  if (p.timestamp !== undefined) out.timestamp = p.timestamp;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.expiration !== undefined) out.expiration = p.expiration;
  return Object.freeze(out);
}
