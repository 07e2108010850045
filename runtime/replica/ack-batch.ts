/**
 * Acks of one channel, coalesced: the acks settled in one event-loop turn go out as one `multiple`
 * ack for the run of settled delivery tags below the lowest unsettled one, plus single acks for any
 * settled beyond a message still running. A multiple ack never covers a message that is not settled
 * (test/unit/ack-batch.test.ts checks it for any order of settlements).
 *
 * With a prefetch `window`, acks may also wait for later turns': every ack frame costs the broker
 * more than a delivery does (a quorum queue writes each settlement to its log), so when handlers
 * finish in the pass of the event loop that brought their message (a fast function draining tens
 * of thousands a second) acks leave once half the window is settled, as the fastest plain client
 * does, or after IDLE_MS. Otherwise acks leave at the end of the pass that settled them: when handlers
 * finish in passes of their own (a timer, I/O), or hold half the window, a slot waiting for its ack is
 * a slot a slow handler cannot use, and the handlers whose timers or replies came due in one pass
 * share one frame. A nack, a close and a message about to run alone (a suspect, ./suspects.ts)
 * flush first, so nothing overtakes an ack, and a suspect that kills its replica takes back with it
 * only what ran beside it.
 */
/** The two frames this needs from a channel, by delivery tag. */
export interface AckChannel {
  ack(tag: number, multiple: boolean): void;
  nack(tag: number, requeue: boolean): void;
  /**
   * the frames of a flush are all given: put them on the socket now. amqplib writes a channel's
   * frames in a setImmediate of its own, and a handler that blocks the event loop before that pass
   * (a `while (true)` started by a delivery in the same read) kept the acks of messages handled
   * milliseconds earlier from ever leaving: they ran again after the watchdog ended the replica.
   */
  sent?(): void;
}

/** How long settled acks may wait for more to join them, with a window. */
export const IDLE_MS = 2;

export interface AckBatchOptions {
  /** runs its argument at the end of this turn (process.nextTick; a test runs it by hand) */
  schedule?: (endOfTurn: () => void) => void;
  /**
   * runs its argument once this pass of the event loop has run its I/O callbacks and the promise
   * jobs they queued (setImmediate; a test runs it by hand)
   */
  afterIo?: (ioOver: () => void) => void;
  /** the channel's prefetch: acks may wait across turns, up to half of it (absent: every turn) */
  window?: number;
}

export class AckBatch {
  /** delivered and not yet settled, in delivery order (tags only grow on a channel) */
  private readonly unsettled = new Set<number>();
  private pending: number[] = [];
  private scheduled = false;
  /**
   * a delivery arrived in this pass of the event loop: the broker is feeding the window, more
   * settlements follow soon. Cleared after the pass's I/O (afterIo), not at the end of a turn: the
   * end of the delivering turn comes before the promise jobs in which its handlers settle.
   */
  private fed = false;
  private dead = false;
  /** acks are kept back (`hold`) */
  private held = false;
  private idle: NodeJS.Timeout | null = null;
  private readonly schedule: (endOfTurn: () => void) => void;
  private readonly afterIo: (ioOver: () => void) => void;
  private readonly unfeed = () => {
    this.fed = false;
  };
  /** settled acks waiting, or messages running, at which acks leave; Infinity without a window */
  private readonly half: number;
  private readonly endOfTurn = () => this.turnEnded();
  private readonly flushNow = () => this.flush();
  /** a flush waits for the end of this pass of the event loop */
  private passEnd = false;
  private readonly passOver = () => {
    this.passEnd = false;
    this.flush();
  };

  constructor(
    private readonly channel: AckChannel,
    options: AckBatchOptions = {},
  ) {
    this.schedule = options.schedule ?? ((f) => process.nextTick(f));
    this.afterIo = options.afterIo ?? ((f) => void setImmediate(f));
    this.half = options.window ? Math.max(1, Math.ceil(options.window / 2)) : Infinity;
  }

  delivered(tag: number): void {
    this.unsettled.add(tag);
    if (this.fed || this.half === Infinity) return;
    this.fed = true;
    this.afterIo(this.unfeed);
  }

  ack(tag: number): void {
    if (this.dead) return; // the broker already returned it to the queue with its channel
    this.unsettled.delete(tag);
    this.pending.push(tag);
    // Half the window settled: the broker needs the room now (the fastest client acks at this point too).
    if (this.pending.length >= this.half) return this.flush();
    if (!this.scheduled) {
      // After the promise jobs now queued: the handlers that finished in this turn share one frame.
      this.scheduled = true;
      this.schedule(this.endOfTurn);
    }
  }

  private turnEnded(): void {
    this.scheduled = false;
    if (this.dead || this.pending.length === 0) return;
    if (this.half === Infinity) return this.flush();
    // Acks wait only in a pass that brought deliveries (handlers finishing as fast as messages come).
    if (this.fed && this.unsettled.size < this.half) {
      this.idle ??= setTimeout(this.flushNow, IDLE_MS);
      return;
    }
    // Handlers finishing on their own (timers, I/O), or holding half the window: the window may be
    // starving, so the acks leave in this pass of the event loop, once its timers and I/O callbacks
    // have run: handlers whose timers (or replies) came due together share one frame. Each ack frame
    // is a settlement the broker writes, and the next delivery waits behind it.
    if (this.passEnd) return;
    this.passEnd = true;
    this.afterIo(this.passOver);
  }

  nack(tag: number, requeue: boolean): void {
    if (this.dead) return;
    this.flush();
    this.unsettled.delete(tag);
    this.channel.nack(tag, requeue);
    this.channel.sent?.();
  }

  /** false once the channel closed (kill): its deliveries are the broker's again */
  holds(): boolean {
    return !this.dead;
  }

  get outstanding(): number {
    return this.unsettled.size;
  }

  /** The channel closed: its unacked messages are back in the queue; settling them is moot. */
  kill(): void {
    this.dead = true;
    this.clearIdle();
    this.pending = [];
    this.unsettled.clear();
  }

  /**
   * Keep every ack back until `release` (a drain, ./consumer.ts `cancel`): while the broker has no
   * ack, it has no room in the window to send a delivery into, so once the window is full nothing is
   * on its way when the consumer is cancelled.
   */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.flush();
  }

  /** delivered and not yet acked to the broker: settled acks kept back count too */
  get unacked(): number {
    return this.unsettled.size + this.pending.length;
  }

  /**
   * `evenHeld`: the thread is ending (a crash, process.exit): acks kept back for a drain go too. Held
   * there, they were lost with the thread and their messages, handled, ran again; released, the worst
   * is a delivery the broker sends into the dying replica, counted once, never run twice.
   */
  flush(evenHeld = false): void {
    this.clearIdle();
    if (this.dead || (this.held && !evenHeld) || this.pending.length === 0) return;
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
    this.channel.sent?.();
  }

  private clearIdle(): void {
    if (this.idle === null) return;
    clearTimeout(this.idle);
    this.idle = null;
  }
}
