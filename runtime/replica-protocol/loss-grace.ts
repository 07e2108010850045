/**
 * The deliveries a replica never saw when it lost its connection. The broker counts a message as
 * delivered once it has sent it: a delivery still on its way (in the broker's channel process, on
 * the wire, or between a queue's leader and a killed node) when the connection drops comes back
 * with one more delivery counted, like the messages the replica held, but no replica knows its key
 * (./cleared-keys.ts). A loss lands in the middle of such a wave whenever a burst of acks has just
 * freed the window: handlers that started together finish together, and the broker answers their
 * acks with as many deliveries at once.
 *
 * So for a while after a replica of the function lost its connection, a message handed back for
 * the first time (one unsettled delivery in all) runs as a fresh message too: for GRACE_WHILE_DOWN_MS
 * after the loss, and GRACE_AFTER_RECONNECT_MS after the replica is back (the broker hands back what
 * it held first). A message counted twice stays a suspect, and a replica's death ends the grace:
 * after a death, what comes back may be its doing. No grace opens within GRACE_AFTER_DEATH_MS of a
 * death either: the suspects of that death are still coming back from waiting aside.
 *
 * The supervisor keeps one per function (from its replicas' connection events) and tells every
 * replica the grace's end; the replica that lost its connection also keeps its own, so it does not
 * wait for the supervisor's word.
 */

export const GRACE_WHILE_DOWN_MS = 60_000;
export const GRACE_AFTER_RECONNECT_MS = 10_000;
export const GRACE_AFTER_DEATH_MS = 60_000;

export class LossGrace {
  /** Date.now() until which a first return runs fresh; 0: closed */
  private open = 0;
  private lostAt = -Infinity;
  private diedAt = -Infinity;

  constructor(private readonly now: () => number = Date.now) {}

  /** A replica of the function lost its connection. The grace's end, or null when none opens. */
  lost(): number | null {
    const now = this.now();
    if (now - this.diedAt < GRACE_AFTER_DEATH_MS) return null;
    this.lostAt = now;
    return this.extend(now + GRACE_WHILE_DOWN_MS);
  }

  /** A replica that lost its connection consumes again. The grace's end, or null when none opens. */
  reconnected(): number | null {
    // A reconnect with no loss since the last death (or none at all) opens nothing.
    if (this.lostAt <= this.diedAt) return null;
    return this.extend(this.now() + GRACE_AFTER_RECONNECT_MS);
  }

  /** The supervisor's word: the grace lasts until `until` (Date.now() time). */
  extend(until: number): number {
    if (until > this.open) this.open = until;
    return this.open;
  }

  /** A replica of the function died: what comes back now may be its doing. */
  died(): void {
    this.open = 0;
    this.diedAt = this.now();
  }

  /** The grace's end, while it is open (for a replica that starts now); 0 when it is closed. */
  get until(): number {
    return this.open > this.now() ? this.open : 0;
  }

  isOpen(): boolean {
    return this.until > 0;
  }
}
