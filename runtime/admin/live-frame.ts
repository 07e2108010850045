/**
 * One second of the dashboard's live view, pure: the supervisor's cumulative counters now and a few
 * seconds ago in, rates and latency quantiles out. Tested without a runtime (test/unit/dashboard-live.test.ts).
 */
import { LATENCY_BOUNDS_MS } from '../replica-protocol/stats';
import type { FunctionView } from './view';

/** What is kept of a function's counters at one tick. */
export interface Sample {
  at: number;
  /** messages settled for good: acked, dead-lettered or dropped */
  handled: number;
  /** messages that failed for good: dead-lettered or dropped (counted in `handled` too) */
  failed: number;
  /** attempts that failed and went to a retry queue, to be tried again */
  retried?: number;
  /** non-cumulative counts per latency bucket (LATENCY_BOUNDS_MS), the last for +Inf */
  buckets: readonly number[];
  /** messages not settled yet: in the queue, in flight or in a retry queue; null when a depth is unknown */
  backlog?: number | null;
}

import { SERIES, type FunctionSetup, type LiveFrame, type LiveFunction, type SeriesName } from './wire-types';

export type { LiveFrame, LiveFunction };

/**
 * The q-quantile (0..1) of a histogram given as non-cumulative bucket counts over `bounds` (the last
 * count is +Inf), interpolated linearly inside the bucket as Prometheus' histogram_quantile does.
 */
export function quantileMs(buckets: readonly number[], q: number, bounds: readonly number[] = LATENCY_BOUNDS_MS): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i] ?? 0;
    if (count > 0 && seen + count >= rank) {
      const upper = bounds[i];
      // The +Inf bucket: all that is known is "more than the last bound".
      if (upper === undefined) return bounds[bounds.length - 1] ?? null;
      const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
      return round(lower + (upper - lower) * ((rank - seen) / count));
    }
    seen += count;
  }
  return bounds[bounds.length - 1] ?? null;
}

/** Counts added between two samples (a counter that went down, e.g. after a restart, counts from zero). */
export function delta(now: Sample, before: Sample | undefined): { handled: number; failed: number; retried: number; buckets: number[]; seconds: number } {
  if (!before) return { handled: 0, failed: 0, retried: 0, buckets: now.buckets.map(() => 0), seconds: 0 };
  const d = (a: number, b: number) => (a >= b ? a - b : a);
  return {
    handled: d(now.handled, before.handled),
    failed: d(now.failed, before.failed),
    retried: d(now.retried ?? 0, before.retried ?? 0),
    buckets: now.buckets.map((n, i) => d(n, before.buckets[i] ?? 0)),
    seconds: Math.max(0, (now.at - before.at) / 1000),
  };
}

/**
 * A function's line of the frame: counts from the view; rates and latency over the window since its
 * oldest sample (a few seconds, so one slow message does not make the chart flicker). Messages in,
 * handled and failed are all over that window: arrivals can only be (`arrivals`, below), and the three share
 * one chart, where a burst handled within one tick but arriving spread over the window would show
 * more handled than came in, then messages coming in that nobody handled.
 */
export function liveFunction(view: FunctionView, now: Sample, windowStart: Sample | undefined): LiveFunction {
  const window = delta(now, windowStart);
  const perSec = (n: number) => (window.seconds > 0 ? round(n / window.seconds) : 0);
  return {
    name: view.name,
    version: view.version,
    desired: view.replicas.desired,
    // The page's figure is what `warren status` shows: a replica reconnecting to the broker consumes nothing.
    running: view.replicas.connected ?? view.replicas.running,
    restarts: view.restarts,
    lastError: view.lastError,
    inFlight: view.inFlight,
    queueDepth: view.queueDepth,
    deadLetterDepth: view.deadLetterDepth,
    retryDepth: view.retryDepth,
    handled: view.handled,
    failed: view.failed,
    inPerSec: arrivals(now, windowStart),
    handledPerSec: perSec(window.handled),
    failedPerSec: perSec(window.failed),
    retriedPerSec: perSec(window.retried),
    p50Ms: quantileMs(window.buckets, 0.5),
    p95Ms: quantileMs(window.buckets, 0.95),
    setup: setupOf(view),
    recentFailures: (view.recentFailures ?? []).slice(0, RECENT_FAILURES_SHOWN),
  };
}

/** The failures a card lists: enough to see what goes wrong now, and a short frame each second. */
export const RECENT_FAILURES_SHOWN = 5;

/** The card's line on how the function runs: its settings and, with `schedule:`, the next tick and the last run. */
function setupOf({ queue, settings, schedule }: FunctionView): FunctionSetup | null {
  if (!settings) return null;
  const lastRun = schedule?.lastRun ? { scheduledAt: schedule.lastRun.scheduledAt, outcome: schedule.lastRun.outcome } : null;
  return { queue, ...settings, schedule: schedule ? { cron: schedule.schedule, timezone: schedule.timezone, next: schedule.next, lastRun } : null };
}

/**
 * Messages arriving per second over the window: what was settled for good plus what the backlog
 * (queue, in flight, retry queues) grew by. A retry is not an arrival: it leaves the queue for a retry
 * queue and comes back, the backlog unchanged. Known only while the depths are (the broker tells
 * depths, not arrivals, without its management plugin).
 */
export function arrivals(now: Sample, before: Sample | undefined): number | null {
  if (!before || now.backlog == null || before.backlog == null) return null;
  const seconds = (now.at - before.at) / 1000;
  if (seconds <= 0 || now.handled < before.handled) return null;
  return round(Math.max(0, now.handled - before.handled + now.backlog - before.backlog) / seconds);
}

/** Three significant digits: enough for a chart, and a short JSON line. */
export function round(n: number): number {
  if (n === 0 || !Number.isFinite(n)) return n;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(n))));
  const f = 10 ** Math.min(digits, 3);
  return Math.round(n * f) / f;
}

/** The chart series the page draws, kept per function. */

export interface History {
  t: number[];
  functions: Record<string, Record<SeriesName, Array<number | null>>>;
}

/** Frames → columns (one array per series), the compact form a page gets when it connects. */
export function historyOf(frames: readonly LiveFrame[]): History {
  const names = new Set(frames.flatMap((f) => f.functions.map((fn) => fn.name)));
  const functions: History['functions'] = {};
  for (const name of names) {
    const columns = {} as Record<SeriesName, Array<number | null>>;
    for (const s of SERIES) columns[s] = [];
    for (const frame of frames) {
      const fn = frame.functions.find((f) => f.name === name);
      for (const s of SERIES) columns[s].push(fn ? fn[s] : null);
    }
    functions[name] = columns;
  }
  return { t: frames.map((f) => f.t), functions };
}
