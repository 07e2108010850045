/**
 * Where a replica publishes: a declared exchange (outputs, ctx.publish) or a queue through the
 * default exchange (retries, dead letters, moved messages, ctx.publish with exchange '').
 * `strict`: a message nothing routes is an error (the publish rejects) rather than a warning.
 */
export interface PublishTarget {
  kind: 'exchange' | 'queue';
  name: string;
  strict: boolean;
  /** false: published without the mandatory flag, so the broker returns nothing (direct reply-to) */
  mandatory?: false;
  /** one of the queues `warren start` declares for the function (retry, dead letters, its own queue) */
  own?: true;
}

/** An exchange: an unroutable message is logged, as a producer publishing to it would expect. */
export const toExchange = (name: string): PublishTarget => ({ kind: 'exchange', name, strict: false });

/** A queue a handler names (`ctx.publish('', queue, …)`): if it is missing, the message must not be acked away. */
export const toQueue = (name: string): PublishTarget => ({ kind: 'queue', name, strict: true });

/** A queue of the function's own that Warren moves a message to: a retry queue, its dead-letter queue, the back of its queue. */
export const toOwnQueue = (name: string): PublishTarget => ({ kind: 'queue', name, strict: true, own: true });

/** RabbitMQ's direct reply-to pseudo-queue: a request's `replyTo`, and the prefix of the name a handler replies to. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

/**
 * RabbitMQ's direct reply-to (`replyTo: 'amq.rabbitmq.reply-to'` on a request, seen by the handler as
 * `amq.rabbitmq.reply-to.<token>`): no queue, the broker hands the reply to the requester's channel.
 * RabbitMQ returns a mandatory publish to it even when it delivered it, so the reply goes without the
 * flag. A requester that is gone loses its reply: the broker drops it, and nothing tells Warren.
 */
export const toDirectReply = (name: string): PublishTarget => ({ kind: 'queue', name, strict: false, mandatory: false });

/** `ctx.publish('', routingKey, …)`: the queue the routing key names, or a direct reply-to. */
export const toDefaultExchange = (routingKey: string): PublishTarget =>
  routingKey.startsWith(DIRECT_REPLY_TO) ? toDirectReply(routingKey) : toQueue(routingKey);

/** A publish to an exchange queues.yaml marks `internal`: refused before it is sent (the broker would close the channel). */
export function internalExchangeError(name: string): Error {
  return new Error(
    `exchange "${name}" is internal: RabbitMQ takes messages into it only through other exchanges' bindings; publish to an exchange bound to it`,
  );
}
