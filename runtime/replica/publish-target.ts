/**
 * Where a replica publishes: a declared exchange (outputs, ctx.publish) or a queue through the
 * default exchange (retries, dead letters, moved messages, ctx.publish with exchange '').
 * `strict`: a message nothing routes is an error (the publish rejects) rather than a warning.
 */
export interface PublishTarget {
  kind: 'exchange' | 'queue';
  name: string;
  strict: boolean;
}

/** An exchange: an unroutable message is logged, as a producer publishing to it would expect. */
export const toExchange = (name: string): PublishTarget => ({ kind: 'exchange', name, strict: false });

/** A queue Warren addresses itself: if it is missing, the message must not be acked away. */
export const toQueue = (name: string): PublishTarget => ({ kind: 'queue', name, strict: true });
