/**
 * The messages of one replica that wait for their `rateLimit` turn (runtime/ratelimit/shared-rate.ts):
 * taken from the queue, unacked, not started. A drain (stop, redeploy, scale down) hands them back
 * at once instead of starting them: the SPEC's drain finishes the work in flight, and a message that
 * has not started is not in flight. At a slow rate a turn can be minutes away, and the old version
 * of a redeployed function would go on starting messages with its old code.
 */

/** Calls `start` when `n` items may start; returns `cancel` (true: given up before `start`). */
export type TakeTurn = (n: number, start: () => void) => () => boolean;

interface Waiter {
  items: number;
  cancel: () => boolean;
  handBack: () => void;
}

export class WaitingTurns {
  private readonly waiting = new Set<Waiter>();
  private closed = false;

  constructor(private readonly turn: TakeTurn) {}

  /** how many items wait for their turn now */
  get items(): number {
    let n = 0;
    for (const waiter of this.waiting) n += waiter.items;
    return n;
  }

  /** `start` when the turn comes, or `handBack` (once, instead) if the replica drains first. */
  wait(n: number, start: () => void, handBack: () => void): void {
    if (this.closed) return handBack();
    const waiter: Waiter = { items: n, cancel: () => false, handBack };
    this.waiting.add(waiter);
    waiter.cancel = this.turn(n, () => {
      this.waiting.delete(waiter);
      start();
    });
  }

  /** The replica drains: hand back what waits now, and from now on whatever asks for a turn. Returns how many items waited. */
  close(): number {
    this.closed = true;
    let handedBack = 0;
    for (const waiter of this.waiting) {
      if (!waiter.cancel()) continue;
      handedBack += waiter.items;
      waiter.handBack();
    }
    this.waiting.clear();
    return handedBack;
  }
}
