/**
 * The properties of a message Warren publishes, built as object literals of one fixed shape.
 *
 * Why not `{ ...properties, headers, mandatory: true }`: on Node 20's V8, an object made by
 * spreading another and then adding keys takes a slow path. It costs about 1 µs to make, against
 * 20 ns for a literal, and amqplib reads it more slowly too: about 3 µs per publish in all, as much
 * as amqplib's own work for the message (bench: `warren publish`, ctx.publish). Every publish of a
 * message goes through here: the CLI, a replica's publisher (outputs, retries, dead letters,
 * ctx.publish) and the delay ladder's forwarder.
 */
import type { Options } from 'amqplib';
import type { MessageProperties } from '../replica/delivery';

/** What a publish sets over the properties it copies; absent: copied as they are. */
export interface PublishSet {
  mandatory?: boolean;
  /** absent: the copied deliveryMode decides (absent too: not persistent, as in AMQP) */
  persistent?: boolean;
  headers?: Record<string, unknown>;
  messageId?: string;
  /** seconds since the epoch */
  timestamp?: number;
  contentType?: string;
  /** null: none, whatever the copy had (a delayed message's expiration was its wait) */
  expiration?: string | null;
}

const NONE: MessageProperties = Object.freeze({});

/**
 * amqplib's options for one publish: `copy`'s properties with `set` over them. The copy's userId is
 * left out: the broker refuses a message whose user-id is not the publishing connection's user.
 */
export function publishOptions(copy: MessageProperties | undefined, set: PublishSet): Options.Publish {
  const from = copy ?? NONE;
  return {
    mandatory: set.mandatory ?? false,
    persistent: set.persistent,
    deliveryMode: from.deliveryMode,
    contentType: set.contentType ?? from.contentType,
    contentEncoding: from.contentEncoding,
    headers: set.headers ?? from.headers,
    priority: from.priority,
    correlationId: from.correlationId,
    replyTo: from.replyTo,
    expiration: set.expiration === null ? undefined : (set.expiration ?? from.expiration),
    messageId: set.messageId ?? from.messageId,
    timestamp: set.timestamp ?? from.timestamp,
    type: from.type,
    appId: from.appId,
  };
}

/**
 * `properties` with other headers, as a literal (see above). `keepExpiration: false` for a retry or a
 * dead letter: as RabbitMQ does when it dead-letters, the producer's per-message TTL goes, or the copy
 * would leave its retry queue early, or expire out of the dead-letter queue (which has nowhere to send it).
 */
export function withHeaders(properties: MessageProperties, headers: Record<string, unknown>, keepExpiration = true): MessageProperties {
  return {
    contentType: properties.contentType,
    contentEncoding: properties.contentEncoding,
    headers,
    messageId: properties.messageId,
    correlationId: properties.correlationId,
    replyTo: properties.replyTo,
    timestamp: properties.timestamp,
    type: properties.type,
    appId: properties.appId,
    deliveryMode: properties.deliveryMode,
    priority: properties.priority,
    expiration: keepExpiration ? properties.expiration : undefined,
    userId: properties.userId,
  };
}
