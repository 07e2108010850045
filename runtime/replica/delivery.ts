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
  /** false once the channel the deliveries came on is gone (the broker has them back); absent: true */
  holds?(): boolean;
}

/**
 * The settlement of one delivery, guarded so only the first call reaches the broker. Synchronous:
 * the ack is queued on the channel's AckBatch at once (it leaves with the turn's other acks).
 */
export class Settle {
  private done = false;
  /** its links in the processor's InFlight list (below), null while not in it */
  prevTaken: Settle | null = null;
  nextTaken: Settle | null = null;
  taken = false;
  /**
   * set when its connection was lost while it was in hand (./lost-connection.ts): called once, when
   * its handler is done with it (returned, threw or timed out) or it ends, whichever comes first
   */
  whenHandled: (() => void) | null = null;
  /** its handler is done with it (`handled`): an output may still wait for its confirm */
  wasHandled = false;
  constructor(
    private readonly target: SettleTarget,
    private readonly tag: number,
    /** how to know the message again when the broker hands it back: it, or its key (./lost-connection.ts) */
    readonly known: Delivery | string | null = null,
  ) {}
  get settled(): boolean {
    return this.done;
  }
  /** not settled, and the channel it came on is still open: settling it still reaches the broker */
  get held(): boolean {
    return !this.done && this.target.holds?.() !== false;
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
  /** Its handler is done with it, or it ended: the `whenHandled` hook, if any, runs now. */
  handled(): void {
    this.wasHandled = true;
    const hook = this.whenHandled;
    if (hook === null) return;
    this.whenHandled = null;
    hook();
  }
}

/** What a processor shows of its InFlight: how many, and which (the drain requeues them). */
export type InFlightView = Pick<InFlight, 'size' | typeof Symbol.iterator>;

/**
 * The deliveries a processor took and has not ended yet, for the drain (wait for them, then requeue
 * what is left). A list threaded through the Settles themselves: taking and ending a message costs a
 * few pointer writes instead of a Set's hashing, twice per message on the hot path.
 */
export class InFlight implements Iterable<Settle> {
  private head: Settle | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(s: Settle): void {
    if (s.taken) return;
    s.taken = true;
    s.prevTaken = null;
    s.nextTaken = this.head;
    if (this.head) this.head.prevTaken = s;
    this.head = s;
    this.count++;
  }

  delete(s: Settle): void {
    if (!s.taken) return;
    s.taken = false;
    if (s.prevTaken) s.prevTaken.nextTaken = s.nextTaken;
    else this.head = s.nextTaken;
    if (s.nextTaken) s.nextTaken.prevTaken = s.prevTaken;
    s.prevTaken = null;
    s.nextTaken = null;
    this.count--;
    s.handled();
  }

  *[Symbol.iterator](): Iterator<Settle> {
    for (let s = this.head; s; s = s.nextTaken) yield s;
  }
}
