/**
 * The shapes the admin API sends (the live stream, dead letters, a replay's result), imported by the
 * server (./live-frame.ts, runtime/deadletters/) and by the dashboard's client
 * (runtime/dashboard/types.ts). No imports here: the client's type-check and bundle must not reach
 * the rest of the runtime.
 */

export interface LiveFunction {
  name: string;
  version: string | null;
  desired: number;
  /** replicas consuming now: started and connected to the broker (`warren status`'s figure) */
  running: number;
  restarts: number;
  lastError: string | null;
  inFlight: number;
  queueDepth: number | null;
  deadLetterDepth: number | null;
  /** messages waiting in the function's retry queues to be tried again (null while unknown) */
  retryDepth: number | null;
  handled: number;
  failed: number;
  /** messages arriving per second over the last seconds (null while the queue's depth is unknown) */
  inPerSec: number | null;
  /** messages settled per second over the same last seconds as inPerSec */
  handledPerSec: number;
  /** messages that failed for good (dead-lettered or dropped) per second, over the same seconds */
  failedPerSec: number;
  /** failed attempts sent to a retry queue per second, over the same seconds */
  retriedPerSec: number;
  /** handler latency over the latency window, null when nothing ran in it */
  p50Ms: number | null;
  p95Ms: number | null;
  /** how it runs, as queues.yaml says and the runtime applies it; null before its config is known */
  setup: FunctionSetup | null;
  /** its last failed attempts, newest first (RECENT_FAILURES_SHOWN at most) */
  recentFailures: RecentFailure[];
}

/** One failed attempt, as the dashboard lists it: what became of the message, and the error's first line. */
export interface RecentFailure {
  /** ISO time */
  at: string;
  messageId: string | null;
  attempt: number;
  /** retried (a retry queue, or in place for an ordered function), dead (dead-lettered), dropped (deadLetter: false) */
  outcome: 'retried' | 'dead' | 'dropped';
  /** why it ended, for dead and dropped: error, timeout, reject, schema, invalid-json, too-large, delivery-limit */
  reason?: string;
  error: string;
}

/** A function's settings as the runtime applies them (the prefetch and batch it really uses), and its schedule. */
export interface FunctionSetup {
  queue: string;
  prefetch: number;
  timeoutMs: number;
  /** attempts before a failed message is dead-lettered */
  attempts: number;
  ordered: boolean;
  batch: { size: number; windowMs: number } | null;
  /** `rateLimit` as written: `100/s`, `30/min` */
  rateLimit: string | null;
  schedule: {
    cron: string;
    timezone: string;
    /** the next tick (ISO) */
    next: string | null;
    /** the latest tick this instance's replicas settled, and how (acked, retried, dead, dropped) */
    lastRun: { scheduledAt: string; outcome: string } | null;
  } | null;
}

export interface LiveFrame {
  /** ms since the epoch */
  t: number;
  state: string;
  ready: boolean;
  /** why the runtime is not ready (the broker does not answer, replicas not up), null when it is */
  why: string | null;
  /** what queues.yaml and functions/ were warned about when last read (`warren check` prints the same) */
  warnings: string[];
  functions: LiveFunction[];
  /** delayed messages (`ctx.publish(…, { delay })`, `warren publish --delay`) in the broker's delay ladder; null while unknown */
  delayed: DelayedCounts | null;
}

export interface DelayedCounts {
  /** waiting for their time (null while a depth is unknown) */
  waiting: number | null;
  /** in warren.delay.undeliverable: nothing took them when they came due */
  undeliverable: number | null;
}

export interface DeadLetter {
  /** the message id, or for a message without one a hash of its body and headers (`~` and 16 hex digits) */
  key: string;
  messageId: string | null;
  error: string | null;
  /** the handler error's stack (truncated when dead-lettered), when Warren recorded one */
  stack: string | null;
  /** error | reject | schema | invalid-json | too-large | timeout | delivery-limit | a broker reason */
  reason: string | null;
  /** handler runs, when known */
  attempts: number | null;
  function: string | null;
  version: string | null;
  /** why the last replica that held it died, when one did (x-warren-last-death) */
  lastDeath: string | null;
  /** ISO time */
  deadLetteredAt: string | null;
  originalExchange: string | null;
  originalRoutingKey: string | null;
  /** the first 200 characters of the body as UTF-8 */
  bodyPreview: string;
  bodyBytes: number;
  headers: Record<string, unknown>;
}

export interface DeadLetterDetail extends DeadLetter {
  contentType: string | null;
  /** the whole body: UTF-8 text when it is valid UTF-8, otherwise base64 */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
}

export interface DeadLetterList {
  queue: string;
  /** messages in the queue when it was read */
  total: number;
  letters: DeadLetter[];
}

export interface DeadLetterPage extends DeadLetterList {
  /** dead letters that match the search among those read */
  matched: number;
  offset: number;
  limit: number;
  /** how many were read: a search reads up to the scan limit, a plain page only up to its end */
  scanned: number;
}

export interface KeptLetter {
  messageId: string | null;
  key: string;
  why: string;
}

export interface ReplayResult {
  queue: string;
  /** the function's queue the copies went to */
  target: string;
  replayed: number;
  /** keys of the replayed dead letters */
  replayedKeys: string[];
  /** taken, not replayed, and back in the dead-letter queue */
  kept: KeptLetter[];
  /** asked for by key, not in the queue */
  missing: string[];
  /** messages left in the dead-letter queue afterwards */
  remaining: number;
  /** connections lost on the way, each followed by the rest through another node (absent: none) */
  reconnects?: number;
}

/** The figures of a function the live stream keeps a history of, one column each (runtime/admin/live-frame.ts). */
export const SERIES = [
  'inPerSec',
  'handledPerSec',
  'failedPerSec',
  'retriedPerSec',
  'p50Ms',
  'p95Ms',
  'inFlight',
  'queueDepth',
  'retryDepth',
  'deadLetterDepth',
] as const satisfies ReadonlyArray<keyof LiveFunction>;
export type SeriesName = (typeof SERIES)[number];
