/**
 * A delivery and its settlement as a replica's consumer hands them to a processor, without a broker:
 * for the unit tests of the message paths (runtime/replica/).
 */
import pino from 'pino';
import { Settle, type Delivery, type MessageProperties } from '../../runtime/replica/delivery';
import { ReplicaStats } from '../../runtime/replica-protocol/stats';

/** A JSON body (default `{}`) through the default exchange to `routingKey`. */
export function jsonDelivery(routingKey: string, body = '{}', properties: MessageProperties = {}): Delivery {
  return {
    content: Buffer.from(body),
    properties: { contentType: 'application/json', headers: {}, ...properties },
    fields: { exchange: '', routingKey, redelivered: false },
  };
}

/** Records `ack TAG` and `requeue TAG` in `frames`; `holds` says whether its channel is still open (default: yes). */
export function recordingSettle(tag: number, frames: string[], holds?: () => boolean): Settle {
  return new Settle({ ack: (t) => void frames.push(`ack ${t}`), nack: (t) => void frames.push(`requeue ${t}`), ...(holds ? { holds } : {}) }, tag);
}

/** What a processor needs besides its function and handler, doing nothing: no output lands, no log is written. */
export function quietDeps() {
  return {
    version: 'v1',
    queueType: 'quorum' as const,
    validate: null,
    publish: async () => undefined,
    log: pino({ level: 'silent' }),
    stats: new ReplicaStats(),
    now: () => performance.now(),
    onStuck: () => undefined,
  };
}
