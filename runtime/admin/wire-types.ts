/**
 * The shapes the admin API's live stream sends, imported by the server (./live-frame.ts) and by the
 * dashboard's client (runtime/dashboard/types.ts). No imports here: the client's type-check and
 * bundle must not reach the rest of the runtime.
 */

export interface LiveFunction {
  name: string;
  version: string | null;
  desired: number;
  running: number;
  restarts: number;
  lastError: string | null;
  inFlight: number;
  queueDepth: number | null;
  deadLetterDepth: number | null;
  handled: number;
  failed: number;
  /** messages settled per second over the last tick */
  handledPerSec: number;
  failedPerSec: number;
  /** handler latency over the latency window, null when nothing ran in it */
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface LiveFrame {
  /** ms since the epoch */
  t: number;
  state: string;
  ready: boolean;
  functions: LiveFunction[];
}
