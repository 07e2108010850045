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

/** The settle primitives of one delivery, guarded so only the first call reaches the broker. */
export class Settle {
  private done = false;
  constructor(
    private readonly ackFn: () => Promise<void>,
    private readonly nackFn: (requeue: boolean) => Promise<void>,
  ) {}
  get settled(): boolean {
    return this.done;
  }
  async ack(): Promise<boolean> {
    if (this.done) return false;
    this.done = true;
    await this.ackFn();
    return true;
  }
  async requeue(): Promise<boolean> {
    if (this.done) return false;
    this.done = true;
    await this.nackFn(true);
    return true;
  }
}
