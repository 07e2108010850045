/**
 * Acks of one channel, coalesced per event-loop turn: the acks settled in one turn go out as one
 * `multiple` ack for the run of settled delivery tags below the lowest unsettled one, plus single
 * acks for any settled beyond a message still running. A multiple ack never covers a message that
 * is not settled (test/unit/ack-batch.test.ts checks it for any order of settlements).
 */

/** The two frames this needs from a channel, by delivery tag. */
export interface AckChannel {
  ack(tag: number, multiple: boolean): void;
  nack(tag: number, requeue: boolean): void;
}

export class AckBatch {
  /** delivered and not yet settled, in delivery order (tags only grow on a channel) */
  private readonly unsettled = new Set<number>();
  private pending: number[] = [];
  private scheduled = false;
  private dead = false;

  constructor(
    private readonly channel: AckChannel,
    private readonly schedule: (flush: () => void) => void = (flush) => process.nextTick(flush),
  ) {}

  delivered(tag: number): void {
    this.unsettled.add(tag);
  }

  ack(tag: number): void {
    if (this.dead) return; // the broker already returned it to the queue with its channel
    this.unsettled.delete(tag);
    this.pending.push(tag);
    if (!this.scheduled) {
      // After the promise jobs now queued: the handlers that finished in this turn share one frame,
      // and the acks leave before the next socket read can hand over a message that kills the thread.
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }

  nack(tag: number, requeue: boolean): void {
    if (this.dead) return;
    this.flush();
    this.unsettled.delete(tag);
    this.channel.nack(tag, requeue);
  }

  get outstanding(): number {
    return this.unsettled.size;
  }

  /** The channel closed: its unacked messages are back in the queue; settling them is moot. */
  kill(): void {
    this.dead = true;
    this.pending = [];
    this.unsettled.clear();
  }

  flush(): void {
    this.scheduled = false;
    if (this.dead || this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    let lowestUnsettled = Infinity;
    for (const tag of this.unsettled) {
      lowestUnsettled = tag; // a Set iterates in insertion order: the first is the lowest
      break;
    }
    let upTo = 0;
    for (const tag of pending) {
      if (tag < lowestUnsettled) {
        if (tag > upTo) upTo = tag;
      } else {
        this.channel.ack(tag, false);
      }
    }
    if (upTo > 0) this.channel.ack(upTo, true);
  }
}
