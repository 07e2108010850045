/**
 * Pure: one message of a dead-letter queue → what a person needs to understand and replay it.
 * Two kinds of dead letters land in `Q.dead`:
 *  - Warren's own (a handler error, a Reject, a schema failure, …): the x-warren-* headers say it all;
 *  - the broker's (a quorum queue's delivery limit after replicas died on the message): only the
 *    `x-death` entries and `x-first-death-*` headers tell the story.
 */
import { createHash } from 'node:crypto';
import type { Options } from 'amqplib';
import { H, replayHeaders, type Route } from '../replica/headers';
import type { DeadLetter, DeadLetterDetail } from '../admin/wire-types';

// The shapes are the admin API's, typed once where the dashboard reads them too.
export type { DeadLetter, DeadLetterDetail } from '../admin/wire-types';

export const BODY_PREVIEW_CHARS = 200;

/** What amqplib's channel.get hands back, reduced to what is read here. */
export interface RawMessage {
  content: Buffer;
  properties: { messageId?: unknown; contentType?: unknown; headers?: Record<string, unknown> | undefined };
}

interface DeathEntry {
  queue?: string;
  reason?: string;
  exchange?: string;
  routingKeys: string[];
  count?: number;
  time?: Date;
}

/** The broker names its reasons with underscores; Warren's use dashes. */
const BROKER_REASONS: Record<string, string> = { delivery_limit: 'delivery-limit', rejected: 'rejected', expired: 'expired', maxlen: 'maxlen' };

export function describeDeadLetter(msg: RawMessage, sourceQueue?: string): DeadLetter {
  const headers = lettersOwnHeaders(msg);
  const deaths = deathsOf(headers);
  const death = brokerDeath(deaths, sourceQueue);
  const route = originalRouteOf(headers, sourceQueue);
  const warrenReason = str(headers[H.reason]);
  const brokerReason = death?.reason ?? str(headers['x-first-death-reason']);
  const reason = warrenReason ?? (brokerReason === undefined ? null : (BROKER_REASONS[brokerReason] ?? brokerReason));
  return {
    key: keyOf(msg),
    messageId: str(msg.properties.messageId) ?? null,
    error: str(headers[H.error]) ?? brokerError(reason, death, str(headers[H.lastDeath])),
    stack: str(headers[H.stack]) || null,
    reason,
    // x-delivery-count is not a fallback: it counts deliveries out of the dead-letter queue itself
    attempts: num(headers[H.attempts]) ?? null,
    function: str(headers[H.fn]) ?? null,
    version: str(headers[H.version]) ?? null,
    lastDeath: str(headers[H.lastDeath]) ?? null,
    deadLetteredAt: str(headers[H.at]) ?? death?.time?.toISOString() ?? null,
    originalExchange: route?.exchange ?? null,
    originalRoutingKey: route?.routingKey ?? null,
    bodyPreview: preview(msg.content),
    bodyBytes: msg.content.length,
    headers: shownHeaders(headers),
  };
}

export function describeDeadLetterFully(msg: RawMessage, sourceQueue?: string): DeadLetterDetail {
  const utf8 = msg.content.toString('utf8');
  const valid = Buffer.from(utf8, 'utf8').equals(msg.content);
  return {
    ...describeDeadLetter(msg, sourceQueue),
    contentType: str(msg.properties.contentType) ?? null,
    body: valid ? utf8 : msg.content.toString('base64'),
    bodyEncoding: valid ? 'utf8' : 'base64',
  };
}

/** How a dead letter is named on the page and in the API: its message id, else a stable hash of it. */
export function keyOf(msg: RawMessage): string {
  const id = str(msg.properties.messageId);
  if (id !== undefined && id !== '') return id;
  // The key must name the same dead letter from one read to the next.
  const hash = createHash('sha256')
    .update(msg.content)
    .update(stableJson(lettersOwnHeaders(msg)))
    .digest('hex');
  return `~${hash.slice(0, 16)}`;
}

/**
 * Headers as JSON can show them: a byte-array value (amqplib decodes AMQP's `x` type to a Buffer)
 * read as text when it is UTF-8, else `{bytes, base64}`, not `{"type":"Buffer","data":[255,0]}`; a
 * 64-bit integer as its digits. Only what is shown: a replay copies the letter's own headers.
 */
function shownHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, shown(value)]));
}

function shown(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) {
    const text = value.toString('utf8');
    return Buffer.from(text, 'utf8').equals(value) ? text : { bytes: value.length, base64: value.toString('base64') };
  }
  if (Array.isArray(value)) return value.map(shown);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shown(v)]));
  return value;
}

/**
 * A dead letter's headers without x-delivery-count: in a quorum dead-letter queue it counts the reads
 * of the letter (each list, page or search hands it back), so it grew every time a person looked.
 */
function lettersOwnHeaders(msg: RawMessage): Record<string, unknown> {
  const { 'x-delivery-count': _reads, ...headers } = (msg.properties.headers ?? {}) as Record<string, unknown>;
  return headers;
}

/**
 * JSON of headers as amqplib decodes them, the same for the same headers: 64-bit integers arrive as
 * BigInt, which JSON.stringify refuses, and a quorum queue hands a message back with its header table
 * re-encoded in sorted order, so a letter's key changed between its first read and the next.
 */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    // (A Buffer or a Date is already its toJSON() here.)
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return v;
  });
}

/**
 * Where to replay a dead letter: Warren's headers first (they hold the first route even after
 * retries, which come back through the default exchange); else the broker's x-death entry of the
 * queue that dead-lettered it; else the first death's exchange. Undefined: nobody knows, the message stays.
 */
export function originalRouteOf(headers: Record<string, unknown> | undefined, sourceQueue?: string): Route | undefined {
  const exchange = str(headers?.[H.exchange]);
  const routingKey = str(headers?.[H.routingKey]);
  if (exchange !== undefined && routingKey !== undefined) return { exchange, routingKey };
  const deaths = deathsOf(headers ?? {});
  const death = brokerDeath(deaths, sourceQueue);
  if (death?.exchange !== undefined && death.routingKeys[0] !== undefined) return { exchange: death.exchange, routingKey: death.routingKeys[0] };
  const firstExchange = str(headers?.['x-first-death-exchange']);
  const first = deaths.find((d) => d.queue === str(headers?.['x-first-death-queue']));
  if (firstExchange !== undefined && first?.routingKeys[0] !== undefined) return { exchange: firstExchange, routingKey: first.routingKeys[0] };
  return undefined;
}

/**
 * The properties a replayed copy is published with: the original ones (content type, message id,
 * correlation id, …) and headers without Warren's dead-letter bookkeeping, so the message starts afresh.
 * Dropped: `expiration` (the broker removed it at dead-lettering; an old one would expire the copy at
 * once) and `userId` (the broker checks it against the replaying user).
 * The copy goes straight to the function's queue through the default exchange, so its original
 * exchange and routing key travel in Warren's route headers, where the consumer reads them for `ctx`.
 */
export function replayProperties(properties: Record<string, unknown>, route?: Route): Options.Publish {
  const out: Record<string, unknown> = {};
  for (const key of ['contentType', 'contentEncoding', 'deliveryMode', 'priority', 'correlationId', 'replyTo', 'messageId', 'timestamp', 'type', 'appId']) {
    const value = properties[key];
    if (value !== undefined && value !== null) out[key] = value;
  }
  const headers = replayHeaders(properties.headers as Record<string, unknown> | undefined);
  if (route) {
    headers[H.exchange] = route.exchange;
    headers[H.routingKey] = route.routingKey;
  }
  out.headers = headers;
  if (out.deliveryMode === undefined) out.persistent = true;
  return out as Options.Publish;
}

function deathsOf(headers: Record<string, unknown>): DeathEntry[] {
  const list = headers['x-death'];
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry): DeathEntry[] => {
    if (entry === null || typeof entry !== 'object') return [];
    const e = entry as Record<string, unknown>;
    const keys = Array.isArray(e['routing-keys']) ? e['routing-keys'].filter((k): k is string => typeof k === 'string') : [];
    const time = timeOf(e.time);
    const death: DeathEntry = { routingKeys: keys };
    if (typeof e.queue === 'string') death.queue = e.queue;
    if (typeof e.reason === 'string') death.reason = e.reason;
    if (typeof e.exchange === 'string') death.exchange = e.exchange;
    const count = num(e.count);
    if (count !== undefined) death.count = count;
    if (time) death.time = time;
    return [death];
  });
}

/** The x-death entry that put the message into `<sourceQueue>.dead`: the source queue's, else the newest. */
function brokerDeath(deaths: readonly DeathEntry[], sourceQueue: string | undefined): DeathEntry | undefined {
  return (sourceQueue === undefined ? undefined : deaths.find((d) => d.queue === sourceQueue)) ?? deaths[0];
}

function brokerError(reason: string | null, death: DeathEntry | undefined, lastDeath: string | undefined): string | null {
  if (reason === 'delivery-limit') {
    const why = lastDeath ? ` (the last died of: ${lastDeath})` : '';
    return `the broker dead-lettered it at the delivery limit of ${death?.queue ?? 'its queue'}: every replica that took it died, hung or was stopped before settling it${why}`;
  }
  if (reason === null) return null;
  return `the broker dead-lettered it (${reason}) from ${death?.queue ?? 'its queue'}`;
}

/** amqplib decodes an AMQP timestamp as `{ '!': 'timestamp', value: seconds }`. */
function timeOf(value: unknown): Date | undefined {
  const seconds = value !== null && typeof value === 'object' && 'value' in value ? (value as { value: unknown }).value : value;
  if (seconds instanceof Date) return seconds;
  const n = num(seconds);
  const time = n === undefined ? undefined : new Date(n * 1000);
  // a forged x-death time (1e20) is an Invalid Date, whose toISOString() would throw
  return time && !Number.isNaN(time.getTime()) ? time : undefined;
}

function preview(content: Buffer): string {
  const text = content.subarray(0, BODY_PREVIEW_CHARS * 4).toString('utf8');
  return text.length > BODY_PREVIEW_CHARS ? text.slice(0, BODY_PREVIEW_CHARS) : text;
}

function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function num(value: unknown): number | undefined {
  const n =
    typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}
