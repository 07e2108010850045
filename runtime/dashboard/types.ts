/** What the admin API sends (runtime/admin/live-frame.ts, runtime/deadletters/, runtime/admin/topology-view.ts). */

// The live stream's frames are typed once, by the server that sends them (type-only: nothing of it is bundled).
export type { LiveFrame, LiveFunction } from '../admin/wire-types';

export const SERIES = ['handledPerSec', 'failedPerSec', 'p50Ms', 'p95Ms', 'inFlight', 'queueDepth', 'deadLetterDepth'] as const;
export type SeriesName = (typeof SERIES)[number];

export interface History {
  intervalMs: number;
  t: number[];
  functions: Record<string, Record<SeriesName, Array<number | null>>>;
}

export interface DeadLetter {
  key: string;
  messageId: string | null;
  error: string | null;
  stack: string | null;
  reason: string | null;
  attempts: number | null;
  function: string | null;
  version: string | null;
  deadLetteredAt: string | null;
  originalExchange: string | null;
  originalRoutingKey: string | null;
  bodyPreview: string;
  bodyBytes: number;
  headers: Record<string, unknown>;
}

export interface DeadLetterDetail extends DeadLetter {
  contentType: string | null;
  body: string;
  bodyEncoding: 'utf8' | 'base64';
}

export interface DeadLetterPage {
  queue: string;
  total: number;
  matched: number;
  offset: number;
  limit: number;
  scanned: number;
  letters: DeadLetter[];
}

export interface ReplayResult {
  queue: string;
  target: string;
  replayed: number;
  kept: Array<{ messageId: string | null; key: string; why: string }>;
  missing: string[];
  remaining: number;
}

export interface Topology {
  exchanges: Array<{ name: string; type: string }>;
  queues: Array<{ name: string; type: string; deadLetterQueue: string | null }>;
  bindings: Array<{ exchange: string; queue: string; routingKey: string }>;
  functions: Array<{ name: string; queue: string; output: { exchange: string; routingKey: string } | null }>;
}
