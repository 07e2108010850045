/**
 * Messages that were in flight when a replica died ("suspects"), and how to count them fairly.
 *
 * A replica that dies returns every unacked message it held, and the broker counts a redelivery for
 * each of them: with prefetch 10, nine innocent messages would share the poison's count, come back
 * first with it, and follow it to the dead-letter queue. So a suspect runs alone: it waits for the
 * messages already running to finish; other suspects that arrive meanwhile are moved aside (copied to
 * the back of the queue with their count carried in a header, then acked), fresh messages wait
 * unstarted. When the suspect kills the replica again, only the fresh messages it held share its count,
 * once, and they are different ones each time (the previous ones were moved to the back).
 * Moving every arrival instead would spin through the queue while the suspect runs. Classic queues
 * keep no count, so a redelivered message is always copied with its count raised by one first.
 *
 * The decision is pure; `IsolationGate` carries out "alone" for one replica.
 */
import { countOf as count, H } from './headers';

export type QueueKind = 'quorum' | 'classic';

export interface DeliveryFacts {
  headers: Record<string, unknown> | undefined;
  redelivered: boolean;
  queueType: QueueKind;
}

/** Deliveries of this message that ended without a settlement (a replica died, a requeue). */
export function priorDeliveries({ headers, redelivered, queueType }: DeliveryFacts): number {
  const carried = count(headers?.[H.redeliveries]);
  if (queueType === 'quorum') return carried + count(headers?.['x-delivery-count']);
  return carried + (redelivered ? 1 : 0);
}

export type Admission =
  /** past the redelivery limit: dead-letter with reason delivery-limit, without running it */
  | { action: 'dead'; redeliveries: number }
  /** copy to the back of the queue with `x-warren-redeliveries: redeliveries`, ack this copy */
  | { action: 'move'; redeliveries: number }
  /** run the handler; `alone` when it may be what killed a replica */
  | { action: 'run'; alone: boolean };

export function admit(facts: DeliveryFacts, limit: number, state: { isolating: boolean; ordered: boolean }): Admission {
  const prior = priorDeliveries(facts);
  if (prior > limit) return { action: 'dead', redeliveries: prior };
  // Ordered functions never reorder: they take one message at a time, so nothing else is held anyway.
  if (state.ordered) return { action: 'run', alone: false };
  // The broker's redelivered flag is the only count a classic queue has: write it down first.
  if (facts.queueType === 'classic' && facts.redelivered) return { action: 'move', redeliveries: prior };
  if (prior === 0) return { action: 'run', alone: false };
  if (state.isolating) return { action: 'move', redeliveries: prior };
  return { action: 'run', alone: true };
}

/**
 * A replica that dies returns its messages together, and they arrive together at the next one: a
 * suspect starts only once this burst is over (nothing arrived for QUIET_MS) and every move finished,
 * so what was delivered beside it is out of this replica's hands before it can kill it.
 */
const QUIET_MS = 50;

/** Runs suspects alone on one replica; everything else runs side by side up to the prefetch. */
export class IsolationGate {
  private running = 0;
  private suspects = 0;
  private moving = 0;
  private lastArrival = 0;
  private waiting: Array<() => void> = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Every delivery, on arrival. */
  arrived(): void {
    this.lastArrival = this.now();
  }

  /** A move in progress (see `admit`); the suspect waits for it. */
  async move<T>(task: () => Promise<T>): Promise<T> {
    this.moving++;
    try {
      return await task();
    } finally {
      this.moving--;
      this.wake();
    }
  }

  /** true while a suspect waits or runs: other suspects are moved aside, fresh messages wait. */
  get isolating(): boolean {
    return this.suspects > 0;
  }

  /** Must be called synchronously on arrival, so the next delivery already sees `isolating`. */
  async run<T>(alone: boolean, task: () => Promise<T>): Promise<T> {
    if (alone) {
      this.suspects++;
      for (;;) {
        const quietIn = this.lastArrival + QUIET_MS - this.now();
        if (this.running === 0 && this.moving === 0 && quietIn <= 0) break;
        await Promise.race([this.change(), new Promise((resolve) => setTimeout(resolve, Math.max(quietIn, 1)))]);
      }
    } else {
      while (this.suspects > 0) await this.change();
    }
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      if (alone) this.suspects--;
      this.wake();
    }
  }

  private wake(): void {
    for (const wake of this.waiting.splice(0)) wake();
  }

  private change(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}
