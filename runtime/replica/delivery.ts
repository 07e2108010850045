/**
 * One delivered message and its settlement. THE RULE: every delivered message is settled exactly
 * once (ack, or nack with requeue), on every path; `Settle` lets only the first call reach the broker.
 */
export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: Record<string, unknown>;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  timestamp?: number;
  type?: string;
  appId?: string;
  deliveryMode?: number;
  priority?: number;
  expiration?: string;
  userId?: string;
}

export interface Delivery {
  content: Buffer;
  properties: MessageProperties;
  fields: { exchange: string; routingKey: string; redelivered: boolean };
}

/** Where a delivery's settlement goes: its channel's acks (./ack-batch.ts), by delivery tag. */
export interface SettleTarget {
  ack(tag: number): void;
  nack(tag: number, requeue: boolean): void;
}

/**
 * The settlement of one delivery, guarded so only the first call reaches the broker. Synchronous:
 * the ack is queued on the channel's AckBatch at once (it leaves with the turn's other acks).
 */
export class Settle {
  private done = false;
  constructor(
    private readonly target: SettleTarget,
    private readonly tag: number,
  ) {}
  get settled(): boolean {
    return this.done;
  }
  /** true when this was the settlement; false when the delivery was already settled */
  ack(): boolean {
    if (this.done) return false;
    this.done = true;
    this.target.ack(this.tag);
    return true;
  }
  requeue(): boolean {
    if (this.done) return false;
    this.done = true;
    this.target.nack(this.tag, true);
    return true;
  }
}
