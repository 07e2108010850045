/**
 * What the admin API says about the runtime (GET /functions, /readyz). Pure: the App's state, the
 * supervisor's status and the queue depths are passed in, so every answer is tested without a broker.
 */
import type { FunctionConfig, WarrenConfig } from '../config/types';
import type { FunctionStatus } from '../supervisor/supervisor';
import type { AppState } from '../app';
import type { QueueDepth } from './depths';
import { deadQueueName, retryLadder, retryQueueName } from '../topology/names';
import type { EmitterStatus } from '../schedule/emitter';
import type { TickOutcome } from '../schedule/outcome';
import { effectiveBatch, effectivePrefetch } from '../config/prefetch';
import { rateUnit } from '../config/units';
import { UNDELIVERABLE, waitingQueues } from '../delay/ladder';
import type { DelayedCounts, FunctionSetup, RecentFailure } from './wire-types';

export interface FunctionView {
  name: string;
  queue: string;
  /** content hash of the running build; null before the function started */
  version: string | null;
  /** running: replicas started; connected: those consuming now (fewer while one reconnects) */
  replicas: { desired: number; running: number; connected?: number };
  /** the broker node each replica consumes from (`host:port`, no credentials); null while it reconnects */
  nodes?: Array<{ replica: number; node: string | null }>;
  restarts: number;
  lastError: string | null;
  /** what keeps a reconnecting replica from the broker when a person must fix it (a vhost gone, a refused login); null for a node only down */
  reconnectProblem?: string | null;
  inFlight: number;
  /** messages settled for good (acked, dead-lettered or dropped) */
  handled: number;
  /** messages that ended dead-lettered or dropped */
  failed: number;
  messages: { acked: number; retried: number; dead: number; dropped: number; redelivered: number };
  queueDepth: number | null;
  deadLetterQueue: string | null;
  deadLetterDepth: number | null;
  /**
   * messages waiting in the function's retry queues to be tried again (failed attempts sitting out
   * their backoff, and messages handed back by a dead replica waiting aside); 0 without retries,
   * null while a depth is unknown
   */
  retryDepth: number | null;
  /** only for a function with `schedule:` */
  schedule?: ScheduleView;
  /** its last failed attempts here, newest first: when, the message, its attempt, what became of it, the error */
  recentFailures?: RecentFailure[];
  /** how it runs: the prefetch and batch its replicas really use (`warren check` says why they differ from queues.yaml); absent before its config is known */
  settings?: FunctionSettings;
}

export type FunctionSettings = Omit<FunctionSetup, 'queue' | 'schedule'>;

export function settingsOf(fn: FunctionConfig): FunctionSettings {
  const { rateLimit } = fn;
  return {
    prefetch: effectivePrefetch(fn).prefetch,
    timeoutMs: fn.timeout,
    attempts: fn.retry.attempts,
    ordered: fn.ordered,
    batch: effectiveBatch(fn).batch ?? null,
    rateLimit: rateLimit ? `${rateLimit.count}/${rateUnit(rateLimit.periodMs)}` : null,
  };
}

export interface ScheduleView extends EmitterStatus {
  /** the latest tick this instance's replicas settled, and how */
  lastRun: TickOutcome | null;
}

export interface RuntimeView {
  state: AppState;
  ready: boolean;
  blockedBy: string | null;
  functions: FunctionView[];
  /** delayed messages in the vhost's delay ladder (shared by every function and instance) */
  delayed?: DelayedCounts;
  /** the project's files' warnings and what the last reload could not apply (`--watch`, `deploy --all`); absent when none */
  warnings?: string[];
}

/** The delay ladder's queues whose depths `describeDelayed` needs. */
export const DELAY_QUEUES: readonly string[] = [...waitingQueues(), UNDELIVERABLE];

/** Every queue whose depth `describeRuntime` needs: the functions' (`depthQueues`) and the delay ladder's. */
export function runtimeQueues(config: WarrenConfig | undefined, status: readonly FunctionStatus[]): string[] {
  return [...depthQueues(config, status), ...DELAY_QUEUES];
}

/** The functions and the delayed messages, from the depths of `runtimeQueues` (GET /functions and the live frames). */
export function describeRuntime(
  config: WarrenConfig | undefined,
  status: readonly FunctionStatus[],
  depths: ReadonlyMap<string, QueueDepth | null>,
  time: { status(): Record<string, EmitterStatus>; delayedHeld(): number } | undefined,
): { functions: FunctionView[]; delayed: DelayedCounts } {
  return { functions: describeFunctions(config, status, depths, time?.status()), delayed: describeDelayed(depths, time?.delayedHeld() ?? 0) };
}

/**
 * Delayed messages waiting for their time, and those nothing took when due. Waiting: in the ladder's
 * queues, plus the `held` this instance's forwarder holds unacked for their last seconds (which the
 * deliver queue no longer counts; another instance's are not seen).
 */
export function describeDelayed(depths: ReadonlyMap<string, QueueDepth | null>, held: number): DelayedCounts {
  const ladder = totalMessages(waitingQueues().map((q) => depths.get(q)));
  return { waiting: ladder === null ? null : ladder + held, undeliverable: depths.get(UNDELIVERABLE)?.messages ?? null };
}

/** Names the queues whose depth a view needs: each function's queue, its dead-letter queue and its retry queues. */
export function depthQueues(config: WarrenConfig | undefined, status: readonly FunctionStatus[]): string[] {
  const names = new Set<string>();
  const add = (queue: string, fn: FunctionConfig | undefined) => {
    names.add(queue);
    const dead = deadLetterQueue(fn);
    if (dead) names.add(dead);
    for (const retry of retryQueues(fn)) names.add(retry);
  };
  for (const s of status) add(s.queue, config?.functions[s.name]);
  for (const fn of Object.values(config?.functions ?? {})) add(fn.queue, fn);
  return [...names];
}

/** The TTL queues a function's messages wait in between attempts (none with `attempts: 1`). */
export function retryQueues(fn: FunctionConfig | undefined): string[] {
  return fn ? retryLadder(fn.retry).map((delay) => retryQueueName(fn.queue, delay)) : [];
}

/** Messages in a function's retry queues, null while one's depth is unknown. */
function retryDepth(fn: FunctionConfig | undefined, depths: ReadonlyMap<string, QueueDepth | null>): number | null {
  return totalMessages(retryQueues(fn).map((queue) => depths.get(queue)));
}

/** The messages of several queues together; null while one's depth is unknown (0 for none). */
export function totalMessages(depths: ReadonlyArray<QueueDepth | null | undefined>): number | null {
  let sum = 0;
  for (const depth of depths) {
    if (!depth) return null;
    sum += depth.messages;
  }
  return sum;
}

export function deadLetterQueue(fn: FunctionConfig | undefined): string | null {
  return fn?.deadLetter ? deadQueueName(fn.queue) : null;
}

/** Every function the runtime runs, plus the configured ones that have not started yet (still connecting). */
export function describeFunctions(
  config: WarrenConfig | undefined,
  status: readonly FunctionStatus[],
  depths: ReadonlyMap<string, QueueDepth | null>,
  schedules: Readonly<Record<string, EmitterStatus>> = {},
): FunctionView[] {
  const scheduleOf = (name: string, lastRun: TickOutcome | null | undefined): { schedule?: ScheduleView } => {
    const emitter = schedules[name];
    return emitter ? { schedule: { ...emitter, lastRun: lastRun ?? null } } : {};
  };
  const seen = new Set<string>();
  const views: FunctionView[] = status.map((s) => {
    seen.add(s.name);
    const fn = config?.functions[s.name];
    const dead = deadLetterQueue(fn);
    const { acked, retried, dead: deadCount, dropped, redelivered, inFlight } = s.stats;
    return {
      name: s.name,
      queue: s.queue,
      version: s.version,
      replicas: { desired: s.desired, running: s.running, connected: s.connected ?? s.running },
      nodes: s.nodes ?? [],
      restarts: s.restarts,
      lastError: s.lastError,
      reconnectProblem: s.reconnectProblem ?? null,
      inFlight,
      handled: acked + deadCount + dropped,
      failed: deadCount + dropped,
      messages: { acked, retried, dead: deadCount, dropped, redelivered },
      queueDepth: depths.get(s.queue)?.messages ?? null,
      deadLetterQueue: dead,
      deadLetterDepth: dead ? (depths.get(dead)?.messages ?? null) : null,
      retryDepth: retryDepth(fn, depths),
      ...scheduleOf(s.name, s.lastTick),
      recentFailures: s.recentFailures ?? [],
      ...(fn ? { settings: settingsOf(fn) } : {}),
    };
  });
  for (const fn of Object.values(config?.functions ?? {})) {
    if (seen.has(fn.name)) continue;
    const dead = deadLetterQueue(fn);
    views.push({
      name: fn.name,
      queue: fn.queue,
      version: null,
      replicas: { desired: fn.replicas, running: 0, connected: 0 },
      nodes: [],
      restarts: 0,
      lastError: null,
      inFlight: 0,
      handled: 0,
      failed: 0,
      messages: { acked: 0, retried: 0, dead: 0, dropped: 0, redelivered: 0 },
      queueDepth: depths.get(fn.queue)?.messages ?? null,
      deadLetterQueue: dead,
      deadLetterDepth: dead ? (depths.get(dead)?.messages ?? null) : null,
      retryDepth: retryDepth(fn, depths),
      ...scheduleOf(fn.name, null),
      settings: settingsOf(fn),
    });
  }
  return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Why the runtime is not ready, or null when it is (every function's desired replicas consume). */
export function notReadyReason(state: AppState, blockedBy: string | null, status: readonly FunctionStatus[], refused: string | null = null): string | null {
  if (refused) return refused;
  if (blockedBy) return `waiting for the broker: ${blockedBy}`;
  if (state === 'idle') return 'starting: loading the config and building the handlers';
  if (state === 'connecting') return 'connecting to the broker and declaring the topology';
  if (state !== 'running') return `runtime is ${state}`;
  const short = status.filter((s) => (s.connected ?? s.running) < s.desired);
  if (short.length === 0) return null;
  const why = (s: FunctionStatus): string => {
    if (s.running > (s.connected ?? s.running)) return s.reconnectProblem ? ` (reconnecting: ${s.reconnectProblem})` : ' (reconnecting to the broker)';
    return s.lastError ? ` (${s.lastError})` : '';
  };
  return `replicas not up: ${short.map((s) => `${s.name} ${s.connected ?? s.running}/${s.desired}${why(s)}`).join(', ')}`;
}
