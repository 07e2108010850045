/**
 * What a replica does about the messages it held when its connection to the broker was lost
 * (../replica-protocol/cleared-keys.ts says why they are not suspects).
 *
 * Which messages the broker still counts unacked is not known here: an ack can be lost on its way.
 * So the consumer remembers its last deliveries (`RecentDeliveries`, twice the prefetch: the broker
 * holds at most a prefetch unacked) and all of them are cleared: the ones settled already at once, the
 * ones still in hand once their handler is done with them (an output may wait for the next connection
 * to be published: its message is cleared before that). A handler that kills the replica first is
 * never cleared, and a handler still running long after its message dropped out of the recent ones
 * stays a suspect: it may be the hung one.
 */
import { createHash } from 'node:crypto';
import type { Delivery, Settle } from './delivery';
import type { Admission } from './suspects';

/** How a message is known again when the broker hands it back: its message id, or else a digest of its body. */
export function messageKey(delivery: Pick<Delivery, 'content' | 'properties'>): string {
  const id = delivery.properties.messageId;
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  return `body:${createHash('sha1').update(delivery.content).digest('base64')}`;
}

/** Most deliveries remembered, whatever the prefetch. */
const RECENT_MAX = 4_096;
/**
 * Bodies up to this size are remembered as they are and digested only at a loss; a larger one is
 * digested on arrival (when it has no id), so the recent deliveries hold at most RECENT_MAX of these
 * bytes beyond what the replica holds anyway: ten 10 MiB images would otherwise stay in memory after
 * being handled, and push a replica past its `memory`.
 */
const REMEMBERED_BODY_MAX = 4_096;

/** What the consumer keeps of a delivery to know it again (`Settle.known`): it, or its key. */
export function remembered(delivery: Delivery): Delivery | string {
  return delivery.content.length <= REMEMBERED_BODY_MAX ? delivery : messageKey(delivery);
}

function keyOf(known: Delivery | string): string {
  return typeof known === 'string' ? known : messageKey(known);
}

/** The last deliveries on one channel, as a ring: one write per message on the hot path. */
export class RecentDeliveries {
  private readonly ring: Array<Settle | undefined>;
  private readonly mask: number;
  private next = 0;

  constructor(prefetch: number) {
    let size = 2;
    while (size < 2 * prefetch && size < RECENT_MAX) size *= 2;
    this.ring = new Array<Settle | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  add(settle: Settle): void {
    this.ring[this.next++ & this.mask] = settle;
  }

  list(): Settle[] {
    return this.ring.filter((s): s is Settle => s !== undefined);
  }
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
    if (!settle.taken) {
      keys.push(keyOf(known));
      continue;
    }
    later++;
    settle.whenHandled = () => clear([keyOf(known)]);
  }
  if (keys.length > 0) clear(keys);
  return { now: keys.length, later };
}

/** Whether a delivery is cleared (`ClearedKeys.has` of its `messageKey`). */
export type IsCleared = (delivery: Delivery) => boolean;

const RUN: Admission = Object.freeze({ action: 'run', alone: false });

/**
 * A message that would wait aside or run alone, but that a lost connection handed back, runs as a
 * fresh message. Past the redelivery limit it is still dead-lettered: a message that keeps coming back
 * is not run for ever, whatever the reason.
 */
export function clearedAdmission(admission: Admission, delivery: Delivery, isCleared: IsCleared | undefined): Admission {
  if (!isCleared || admission.action === 'dead' || (admission.action === 'run' && !admission.alone)) return admission;
  return isCleared(delivery) ? RUN : admission;
}
