/**
 * Pure: the delay ladder, Warren's delayed messages without a broker plugin.
 *
 * LEVELS TTL queues, level k holding a message for 2^k × UNIT_MS. The ladder's part of a delay is
 * written in binary in the routing key, highest level first (`0.0.1.….1`, one word per level).
 * Each level has a topic exchange with two bindings: a 1 at its word sends the message into the
 * level's queue, a 0 skips straight to the next level's exchange (an exchange-to-exchange binding).
 * A level's queue has a queue-level x-message-ttl and dead-letters to the next level's exchange
 * with the routing key untouched, so the message walks down the ladder waiting only at its 1 bits.
 * After level 0 it lands in the deliver queue.
 *
 * Why a deliver step in the runtime rather than a routing key convention: the message must reach an
 * arbitrary exchange with an arbitrary routing key. Dead-lettering can only send it to one fixed
 * exchange per queue and keeps the ladder's routing key, so a convention could address queues but
 * never "exchange X, routing key K" (a topic exchange routes on the key). The target therefore travels
 * in headers and a small forwarder (./deliver.ts) publishes it to its exchange with a confirm, then acks.
 *
 * Accuracy. Each hop costs the broker a dead-letter per message, and messages published together
 * expire together: measured here on a loaded 2-core machine, a burst of 200 messages came out of 8
 * hops 100–300 ms late, 1,000 messages with delays of 1–10 s out of a 100 ms-unit ladder up to 1.5 s
 * late. So the ladder holds the delay minus HOLD_MS, rounded down to the unit, and the forwarder holds
 * the message (unacked: a crash hands it back to the broker) until the exact time it is due. The
 * message is never early (the forwarder waits for `due`) and is late by the forwarding only, as long
 * as the ladder is less than HOLD_MS late. A message enters at its highest 1 bit (`entryExchange`):
 * entering at the top routed each message of a burst through every level's exchange at once, which
 * made 1,000 messages seconds late.
 */
import { parseDuration, formatDuration } from '../config/units';
import { WarrenError } from '../errors';

/**
 * One second: the hold makes a finer unit useless, and every level fewer is one dead-letter fewer per
 * message (1–10 s delays take at most 3 hops).
 */
export const UNIT_MS = 1_000;
export const LEVELS = 17;
/** The part of every delay the forwarder holds (2–3 s with the rounding), to absorb the ladder's lateness under load. */
export const HOLD_MS = 2_000;
/** (2^17 − 1) s: about 36.4 hours. */
export const MAX_DELAY_MS = (2 ** LEVELS - 1) * UNIT_MS;

/** The exchange and queue of level k (one name for both: exchanges and queues are apart in RabbitMQ). */
export function levelName(k: number): string {
  return `warren.delay.${k}`;
}
/** The top level's exchange: declared last-but-one, so its presence says the ladder is there. */
export const ENTRY_EXCHANGE = levelName(LEVELS - 1);
/** Fanout exchange after level 0, and the queue the forwarder consumes. */
export const DELIVER = 'warren.delay.deliver';
/** Where the forwarder puts a message it cannot deliver (its exchange was deleted during the delay). */
export const UNDELIVERABLE = 'warren.delay.undeliverable';

/** The queues a delayed message waits in until it is due: every level, then the forwarder's. */
export function waitingQueues(): string[] {
  return [...Array.from({ length: LEVELS }, (_, k) => levelName(k)), DELIVER];
}

/** Headers a delayed message carries through the ladder; the target's are removed before it is delivered, `due` stays. */
export const DELAY_HEADERS = {
  exchange: 'x-warren-delay-exchange',
  routingKey: 'x-warren-delay-routing-key',
  /** epoch ms the message is due, by the publisher's clock */
  due: 'x-warren-delay-due',
  /**
   * the message's `CC` and `BCC` (RabbitMQ's sender-selected distribution), held through the ladder:
   * published into it with them, the broker sent the message to the queues they name at once, undelayed
   */
  cc: 'x-warren-delay-cc',
  bcc: 'x-warren-delay-bcc',
} as const;

/** What a delay may be, said in every refusal: a handler sees only the error's message. */
export const DELAY_ACCEPTED = 'whole milliseconds >= 0 (e.g. 1500) or a duration such as "500ms", "90s", "5m", "1h30m"';

/**
 * A delay as a person writes it (`90s`, `1h30m`) or milliseconds → ms, read the same way for
 * ctx.publish and `warren publish --delay`: a number, or a string of digits, is whole milliseconds.
 * Throws WARREN_E_DELAY for anything unreadable, negative, fractional, or longer than the ladder
 * holds. A fraction is refused, not rounded: `{ delay: 1.5 }` is far more likely 1.5 s meant than 2 ms.
 */
export function parseDelay(value: unknown, hint = "write e.g. { delay: '90s' } or { delay: 90000 }"): number {
  const read = typeof value === 'string' && /^\s*-?\d+(?:\.\d+)?\s*$/.test(value) ? Number(value) : value;
  const ms = typeof read === 'number' ? (Number.isInteger(read) && read >= 0 ? read : undefined) : parseDuration(read);
  if (ms === undefined) {
    throw new WarrenError('WARREN_E_DELAY', `delay ${shown(value)} ${whyNot(read)}: expected ${DELAY_ACCEPTED}`, { hint });
  }
  if (ms > MAX_DELAY_MS) {
    // As written, and in days and hours when that says it otherwise ("37h" is 1d13h; "200d" is just
    // "200d"); a number too large for formatDuration to say (1e300) is said in milliseconds.
    const plain = formatDuration(ms);
    const written = typeof value !== 'string' ? `${shown(value)} ms` : plain === value.trim() ? shown(value) : `${shown(value)} (${plain})`;
    throw new WarrenError('WARREN_E_DELAY', `delay ${written} is longer than the longest Warren delays (${formatDuration(MAX_DELAY_MS)})`, {
      hint: 'for longer waits, schedule a function (`schedule:` in queues.yaml) or delay in several steps',
    });
  }
  return ms;
}

function whyNot(read: unknown): string {
  // "-1s": a duration with a minus, negative rather than unreadable
  if (typeof read === 'string' && /^\s*-/.test(read) && parseDuration(read.trim().slice(1)) !== undefined) return 'is negative';
  if (typeof read !== 'number' || Number.isNaN(read)) return 'is not a duration';
  if (read < 0) return 'is negative';
  return Number.isFinite(read) ? 'is not a whole number of milliseconds' : 'is not a duration';
}

/** A value as the caller wrote it: strings quoted, numbers as they are (NaN, not JSON's null). */
function shown(value: unknown): string {
  return typeof value === 'number' || value === undefined ? String(value) : (JSON.stringify(value) ?? String(value));
}

/** The ladder's share of a delay in whole units: the delay minus HOLD_MS, rounded down. */
export function delayUnits(ms: number): number {
  return Math.max(0, Math.floor((ms - HOLD_MS) / UNIT_MS));
}

/** The ladder's routing key for a delay: one word per level, highest level first. */
export function delayRoutingKey(ms: number): string {
  const bits = delayUnits(ms).toString(2).padStart(LEVELS, '0');
  if (bits.length > LEVELS) throw new RangeError(`delay ${ms} ms is beyond the ladder (${MAX_DELAY_MS} ms)`);
  return bits.split('').join('.');
}

/** The levels whose queues a delay waits in, highest first (the 1 bits). */
export function levelsOf(ms: number): number[] {
  const units = delayUnits(ms);
  const levels: number[] = [];
  for (let k = LEVELS - 1; k >= 0; k--) if (Math.floor(units / 2 ** k) % 2 === 1) levels.push(k);
  return levels;
}

/** Topic pattern of level k's word being `bit`: `*.*.1.#` for the third word from the top. */
export function levelPattern(k: number, bit: 0 | 1): string {
  return [...Array<string>(LEVELS - 1 - k).fill('*'), String(bit), '#'].join('.');
}

/** Where level k's queue and its 0 binding lead: the next level down, or the deliver exchange. */
export function nextExchange(k: number): string {
  return k === 0 ? DELIVER : levelName(k - 1);
}

export interface DelayedPublish {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
}

/** Every exchange a delayed message may be published to (the replicas' publisher allows these). */
export function ladderExchanges(): string[] {
  return [...Array.from({ length: LEVELS }, (_, k) => levelName(k)), DELIVER];
}

/**
 * Where a delay enters the ladder: the level of its highest 1 bit, or the deliver exchange when the
 * ladder has no part of it. Entering at the top would route every message of a burst through every
 * level's exchange at once (measured: a burst of 1,000 took seconds on a loaded broker); the levels
 * above the highest 1 bit would only pass it on.
 */
export function entryExchange(ms: number): string {
  const units = delayUnits(ms);
  return units === 0 ? DELIVER : levelName(Math.floor(Math.log2(units)));
}

/** How to publish a message bound for `exchange`/`routingKey` so it arrives `ms` from `now`. */
export function delayedPublish(exchange: string, routingKey: string, ms: number, headers: Record<string, unknown> | undefined, now: number): DelayedPublish {
  return {
    exchange: entryExchange(ms),
    routingKey: delayRoutingKey(ms),
    // Object.assign, not a spread followed by more keys: see runtime/connection/publish-options.ts.
    headers: Object.assign(withoutSenderSelected(headers), {
      [DELAY_HEADERS.exchange]: exchange,
      [DELAY_HEADERS.routingKey]: routingKey,
      [DELAY_HEADERS.due]: now + ms,
    }),
  };
}

/** The headers with `CC` and `BCC` renamed to the ladder's own (they go back at delivery: forwardOf). */
function withoutSenderSelected(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy = Object.assign({}, headers);
  if (!headers || !('CC' in headers || 'BCC' in headers)) return copy;
  if ('CC' in copy) copy[DELAY_HEADERS.cc] = copy['CC'];
  if ('BCC' in copy) copy[DELAY_HEADERS.bcc] = copy['BCC'];
  delete copy['CC'];
  delete copy['BCC'];
  return copy;
}

export interface Forward {
  exchange: string;
  routingKey: string;
  /** the message's own headers plus `x-warren-delay-due`, without the target and the broker's bookkeeping (dead-letter, delivery count) */
  headers: Record<string, unknown>;
  /** epoch ms it is due (publisher's clock), when known */
  due: number | undefined;
}

/** Where a message leaving the ladder goes; null when it carries no target (not a delayed message). */
export function forwardOf(headers: Record<string, unknown> | undefined): Forward | null {
  const h = headers ?? {};
  const exchange = text(h[DELAY_HEADERS.exchange]);
  const routingKey = text(h[DELAY_HEADERS.routingKey]);
  if (exchange === undefined || routingKey === undefined) return null;
  const due = Number(h[DELAY_HEADERS.due]);
  const clean: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(h)) {
    if (key === 'x-death' || key.startsWith('x-first-death-') || key.startsWith('x-last-death-')) continue;
    // warren.delay.deliver's own count (a forwarder stopped while it held the message): carried on, the
    // function read it as a replica's death and ran the message as a suspect, or dead-lettered it unrun
    if (key === 'x-delivery-count') continue;
    if (key === DELAY_HEADERS.exchange || key === DELAY_HEADERS.routingKey) continue;
    clean[key === DELAY_HEADERS.cc ? 'CC' : key === DELAY_HEADERS.bcc ? 'BCC' : key] = value;
  }
  return { exchange, routingKey, headers: clean, due: Number.isFinite(due) ? due : undefined };
}

/** amqplib hands header strings back as strings, but a long string may arrive as a Buffer. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}
