/**
 * What a replica does about the messages it held when its connection to the broker was lost
 * (../replica-protocol/cleared-keys.ts says why they are not suspects).
 *
 * Which messages the broker still counts unacked is not known here: an ack can be lost on its way.
 * So the consumer remembers its last deliveries (`RecentDeliveries`) and all of them are cleared: the
 * ones settled already at once, the ones still in hand once their handler is done with them (an
 * output may wait for the next connection to be published: its message is cleared before that). A
 * handler that kills the replica first is never cleared, and a handler still running long after its
 * message dropped out of the recent ones stays a suspect: it may be the hung one.
 */
import { createHash } from 'node:crypto';
import type { Delivery, Settle } from './delivery';

/** How a message is known again when the broker hands it back: its message id, or else a digest of its body. */
export function messageKey(delivery: Pick<Delivery, 'content' | 'properties'>): string {
  const id = delivery.properties.messageId;
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  return `body:${createHash('sha1').update(delivery.content).digest('base64')}`;
}

/** Deliveries remembered: twice the prefetch (the broker holds at most a prefetch unacked), at most this. */
const RECENT_MAX = 4_096;
/**
 * The most body bytes the recent deliveries hold beyond what the replica holds anyway. Past it, a
 * delivery is remembered by its key, digested on arrival, not by its body: remembering twice the
 * prefetch of 6 MiB images kept them in memory after they were handled and pushed the replica past its
 * `memory` (recycled 15 times for 80 of them at prefetch 10). Small bodies, the usual case, are only
 * digested at a loss.
 */
export const RECENT_BODIES_MAX = 8 * 2 ** 20;

/** The last deliveries on one channel, as a ring: a few writes per message on the hot path. */
export class RecentDeliveries {
  private readonly ring: Array<Settle | undefined>;
  /** the body bytes each slot holds */
  private readonly sizes: Float64Array;
  private readonly mask: number;
  private next = 0;
  private bytes = 0;

  constructor(prefetch: number) {
    let size = 2;
    while (size < 2 * prefetch && size < RECENT_MAX) size *= 2;
    this.ring = new Array<Settle | undefined>(size).fill(undefined);
    this.sizes = new Float64Array(size);
    this.mask = size - 1;
  }

  /** How to know `delivery` again (`Settle.known`): itself while the bodies held fit RECENT_BODIES_MAX, else its key. */
  known(delivery: Delivery): Delivery | string {
    const freed = this.sizes[this.next & this.mask]!;
    return this.bytes - freed + delivery.content.length <= RECENT_BODIES_MAX ? delivery : messageKey(delivery);
  }

  add(settle: Settle): void {
    const slot = this.next++ & this.mask;
    const known = settle.known;
    const size = known !== null && typeof known !== 'string' ? known.content.length : 0;
    this.bytes += size - this.sizes[slot]!;
    this.sizes[slot] = size;
    this.ring[slot] = settle;
  }

  list(): Settle[] {
    return this.ring.filter((s): s is Settle => s !== undefined);
  }
}

function keyOf(known: Delivery | string): string {
  return typeof known === 'string' ? known : messageKey(known);
}

/**
 * The connection is lost: clear the `recent` deliveries, through `clear`, the ended ones now and the
 * ones still in hand once their handler is done with them (`Settle.handled`). Returns how many of each.
 */
export function clearLost(recent: Settle[], clear: (keys: string[]) => void): { now: number; later: number } {
  const keys: string[] = [];
  let later = 0;
  for (const settle of recent) {
    const known = settle.known;
    if (known === null) continue;
    // Ended, or handled and waiting for its output's confirm (which waits for the next connection).
    if (!settle.taken || settle.wasHandled) {
      keys.push(keyOf(known));
      continue;
    }
    later++;
    settle.whenHandled = () => clear([keyOf(known)]);
  }
  if (keys.length > 0) clear(keys);
  return { now: keys.length, later };
}
