/**
 * Upper bounds a config value must respect, checked at `warren check` so nothing absurd gets as far as
 * the broker (where it fails later and less clearly) or a timer (Node fires a setTimeout over 2^31 ms at
 * once). Integers are bounded in runtime/queues.schema.json; durations and sizes written as strings,
 * and names measured in bytes, here.
 */
import { formatDuration } from './units';

/** AMQP short strings (exchange and queue names, routing keys) are at most 255 bytes. */
export const MAX_NAME_BYTES = 255;
/** timeout, retry.delay, retry.maxDelay */
export const MAX_DURATION_MS = 86_400_000;
/**
 * batch.window: a partial batch is held unacked while it fills, and RabbitMQ closes the channel of a
 * consumer that holds a message past `consumer_timeout` (30 min by default). 5 minutes, as Lambda's
 * batching window, leaves room for the handler's own time.
 */
export const MAX_BATCH_WINDOW_MS = 300_000;
/**
 * rateLimit: the longest a message may wait unacked in a replica's prefetch for its turn (replicas ×
 * prefetch / rate): past `consumer_timeout` (30 min by default) RabbitMQ closes the replica's channel
 * and hands the messages back with a delivery counted. 20 minutes leaves room for the handlers' time.
 */
export const MAX_RATE_HOLD_MS = 1_200_000;
/**
 * The most messages a rateLimit lets start in its window. The limiter keeps one start time per
 * message of the window, and one runtime starts some 60,000 a second at most: a larger limit is no limit.
 */
export const MAX_RATE_COUNT = 100_000;
/**
 * RabbitMQ's default `consumer_timeout`: a message a consumer holds longer is taken back, its channel
 * closed (with every other message it holds) and a delivery counted. A `timeout` past it is allowed
 * (a broker may raise it) but warned of.
 */
export const DEFAULT_CONSUMER_TIMEOUT_MS = 1_800_000;
/** RabbitMQ's own default max_message_size */
export const MAX_BODY_BYTES = 128 * 1024 * 1024;

export function nameBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

/** `"abcdef…" (300 bytes)`: a name too long to print whole. */
export function shortName(name: string): string {
  return name.length > 40 ? `"${name.slice(0, 40)}…" (${nameBytes(name)} bytes)` : `"${name}" (${nameBytes(name)} bytes)`;
}

export const MAX_DURATION_TEXT = formatDuration(MAX_DURATION_MS);
