/** What the admin API sends (runtime/admin/live-frame.ts, runtime/deadletters/, runtime/admin/topology-view.ts). */

// The live stream's frames, dead letters and replay results are typed once, by the server that sends
// them. Of that module only the series list is a value, bundled with the page.
import type { SeriesName } from '../admin/wire-types';
export type { DeadLetter, DeadLetterDetail, DeadLetterPage, FunctionSetup, LiveFrame, LiveFunction, RecentFailure, ReplayResult } from '../admin/wire-types';

export { SERIES, type SeriesName } from '../admin/wire-types';

export interface History {
  intervalMs: number;
  t: number[];
  functions: Record<string, Record<SeriesName, Array<number | null>>>;
}

export interface Topology {
  exchanges: Array<{ name: string; type: string; internal?: boolean }>;
  queues: Array<{ name: string; type: string; deadLetterQueue: string | null }>;
  /** `queue` is an exchange's name when `toExchange` (an exchange-to-exchange binding) */
  bindings: Array<{ exchange: string; queue: string; toExchange?: boolean; routingKey: string; arguments?: Record<string, unknown> }>;
  functions: Array<{ name: string; queue: string; output: { exchange: string; routingKey: string } | null }>;
}
