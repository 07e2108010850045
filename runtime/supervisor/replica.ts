/**
 * One replica: a worker thread running runtime/replica/thread.ts. Its lifecycle is
 * starting → running → draining → stopped; `exited` resolves once the thread is gone, whatever ended it.
 */
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FromReplica, ReplicaInit, ToReplica } from '../replica-protocol/messages';
import { ReplicaStats } from '../replica-protocol/stats';
import { workerFile } from './paths';
import { WarrenError, isErrorCode } from '../errors';
import type { RecentFailure } from '../admin/wire-types';
import { ExpiringKeys } from '../lib/expiring-keys';

/**
 * The cap of a replica's young generation (where V8 allocates new objects), on top of `memory` (the
 * old generation's limit). Left to V8, a busy replica's grows to 48 MiB within seconds, whatever
 * `memory` says: six busy replicas took 200 MiB more after the soak's first 100,000 messages than
 * before, live objects staying near 10 MiB each. A twenty-fourth of `memory`, 8 to 64 MiB: 11 MiB by
 * default. The no-op row of the bench drains as fast with it.
 */
export function youngGenerationMb(memoryMb: number): number {
  return Math.min(64, Math.max(8, Math.round(memoryMb / 24)));
}

/** Keys of messages with a count a replica remembers having run: far more than ever run between two deaths. */
const SUSPECTS_RUN_MAX = 10_000;

export type ReplicaState = 'starting' | 'running' | 'draining' | 'stopped';

export interface ReplicaEvents {
  /** the thread ended without being asked to (crash, exit, out of memory, killed by the watchdog) */
  died: [reason: string];
  /** the handler outlived its timeout: the runner replaces this replica */
  stuck: [reason: string];
  /** a scheduled function's tick was settled */
  tick: [scheduledAt: string, outcome: string];
  /** an attempt failed (runtime/replica-protocol/recent-failures.ts) */
  failure: [failure: RecentFailure];
  /** the replica lost its connection holding these messages (runtime/replica-protocol/cleared-keys.ts) */
  cleared: [keys: string[]];
  /** the replica counted one forgiven delivery of this message fewer (runtime/replica-protocol/forgiven.ts) */
  forgave: [key: string];
  /** a message with a count runs in the replica (runtime/replica-protocol/forgiven.ts `AfterDeath`) */
  'suspect-runs': [key: string];
  /** the replica's connection dropped (false) or it consumes again (true) */
  connection: [up: boolean];
  /** its queue is not on the broker (deleted while the runtime ran) */
  'queue-missing': [];
  /** an exchange queues.yaml declares is not on the broker (a publish to it was refused) */
  'exchange-missing': [exchange: string];
}

export class Replica extends EventEmitter<ReplicaEvents> {
  readonly stats: ReplicaStats;
  readonly startedAt = Date.now();
  /** the replica's number within its function (as in its logs) */
  readonly number: number;
  state: ReplicaState = 'starting';
  /** its handler loaded and it subscribes: a handler may run before `ready` (the start grace is over) */
  subscribing = false;
  /** false while the replica's own connection is down and it reconnects, to another node of a cluster (runtime/replica/consumer.ts) */
  connected = true;
  /** `host:port` of the broker node the replica consumes from; null while down */
  node: string | null = null;
  /** why its last reconnect failed, when a person must fix it (a vhost deleted); null otherwise */
  reconnectProblem: string | null = null;
  /** the suspects it holds unstarted, as it last said, and the group they wait in (runtime/replica-protocol/forgiven.ts) */
  private unstarted: { keys: string[]; group: number } = { keys: [], group: 0 };

  /** the messages with a count admitted to run here, the latest SUSPECTS_RUN_MAX, kept for the replica's life (runtime/replica-protocol/forgiven.ts `AfterDeath`) */
  private readonly suspectsRun = new ExpiringKeys<true>(SUSPECTS_RUN_MAX, Date.now);

  /** the messages it was moving aside, as it last said (runtime/replica-protocol/forgiven.ts) */
  private moving: string[] = [];

  /** The messages it was moving aside when it died: they did not run there. */
  movingAtDeath(): string[] {
    return this.moving;
  }

  /** The suspects it held unstarted when it died: none if their group had started (shared memory says so at once). */
  unstartedAtDeath(): string[] {
    return this.unstarted.group > this.stats.groupsStarted ? this.unstarted.keys : [];
  }

  /** The messages with a count that ran here, when it died: one of them may be why. */
  guiltyAtDeath(unstarted: readonly string[]): string[] {
    return [...this.suspectsRun.live()].map(([key]) => key).filter((key) => !unstarted.includes(key));
  }
  private readonly worker: Worker;
  private readonly exitedPromise: Promise<void>;
  private drainedPromise: Promise<void> | null = null;
  private expectedExit = false;

  constructor(
    init: Omit<ReplicaInit, 'stats'>,
    private readonly log: Logger,
  ) {
    super();
    this.number = init.replica;
    this.stats = new ReplicaStats();
    this.stats.beat(Date.now());
    const data: ReplicaInit = { ...init, stats: this.stats.buffer };
    this.worker = new Worker(workerFile(), {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: init.fn.memoryMb, maxYoungGenerationSizeMb: youngGenerationMb(init.fn.memoryMb) },
      stdout: false,
      stderr: false,
    });
    this.exitedPromise = new Promise((resolve) => {
      this.worker.on('error', (err: Error & { code?: string }) => {
        const reason = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `out of memory (limit ${init.fn.memoryMb} MiB)` : `uncaught ${err.name}: ${err.message}`;
        this.lastError = reason;
      });
      this.worker.on('exit', (code) => {
        const wasRunning = this.state !== 'stopped' && !this.expectedExit;
        this.state = 'stopped';
        resolve();
        if (wasRunning) this.emit('died', this.lastError ?? `thread exited with code ${code}`);
      });
    });
  }

  private lastError: string | null = null;

  /** Resolves once the replica consumes; rejects when it cannot start (bad handler, broker gone). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromReplica) => {
        if (message.type === 'subscribing') {
          this.subscribing = true;
        } else if (message.type === 'ready') {
          this.node = message.node;
          if (this.state === 'starting') this.state = 'running';
          resolve();
        } else if (message.type === 'fatal') {
          this.lastError = message.message;
          reject(startError(message));
        } else if (message.type === 'memory') {
          if (this.state === 'starting' || this.state === 'running') void this.terminateAsDead(message.reason);
        } else if (message.type === 'connection') {
          this.connected = message.up;
          this.node = message.node;
          this.reconnectProblem = null;
          this.emit('connection', message.up);
        } else if (message.type === 'reconnect-failed') {
          this.reconnectProblem = message.problem;
        } else if (message.type === 'stuck') {
          this.emit('stuck', message.reason);
        } else if (message.type === 'queue-missing') {
          this.emit('queue-missing');
        } else if (message.type === 'exchange-missing') {
          this.emit('exchange-missing', message.exchange);
        } else if (message.type === 'tick') {
          this.emit('tick', message.scheduledAt, message.outcome);
        } else if (message.type === 'failure') {
          this.emit('failure', message.failure);
        } else if (message.type === 'cleared') {
          this.emit('cleared', message.keys);
        } else if (message.type === 'unstarted') {
          this.unstarted = { keys: message.keys, group: message.group };
        } else if (message.type === 'moving') {
          this.moving = message.keys;
        } else if (message.type === 'forgave') {
          this.emit('forgave', message.key);
        } else if (message.type === 'suspect-runs') {
          this.emit('suspect-runs', message.key);
          this.suspectsRun.set(message.key, true, Infinity);
        }
      };
      this.worker.on('message', onMessage);
      void this.exitedPromise.then(() => reject(new Error(this.lastError ?? 'replica exited while starting')));
    });
  }

  /** Stop consuming, let in-flight messages finish for up to graceMs, requeue the rest, end the thread. */
  drain(graceMs: number): Promise<void> {
    if (this.drainedPromise) return this.drainedPromise;
    if (this.state === 'stopped') return Promise.resolve();
    this.state = 'draining';
    this.expectedExit = true;
    this.drainedPromise = (async () => {
      const drained = new Promise<void>((resolve) => {
        this.worker.on('message', (message: FromReplica) => {
          if (message.type === 'drained') resolve();
        });
      });
      this.worker.postMessage({ type: 'drain', graceMs } satisfies ToReplica);
      // A thread whose event loop is blocked never answers: end it once the grace period is over and
      // its heartbeat (every 200 ms) has been silent for a second; one that answers late, after 5 s more.
      let look: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        const began = Date.now();
        look = setInterval(() => {
          const over = Date.now() - began - graceMs;
          if (over >= 5_000 || (over >= 0 && Date.now() - this.stats.snapshot().heartbeat > 1_000)) resolve();
        }, 100);
        look.unref();
      });
      await Promise.race([drained, this.exitedPromise, late]);
      clearInterval(look);
      await this.kill();
    })();
    return this.drainedPromise;
  }

  /** A held replica (ReplicaInit.held) may connect and consume now. */
  release(): void {
    if (this.state === 'starting') this.worker.postMessage({ type: 'consume' } satisfies ToReplica);
  }

  /**
   * What the function's other replicas did, for this one (see ToReplica: a death, cleared and forgiven
   * messages, a message with a count that runs, a loss's grace). Nothing once it has stopped.
   */
  tell(message: Exclude<ToReplica, { type: 'consume' | 'drain' }>): void {
    if (this.state === 'stopped') return;
    this.worker.postMessage(message);
  }

  /** End the thread now; its unacked messages return to the queue. */
  async kill(): Promise<void> {
    this.expectedExit = true;
    if (this.state !== 'stopped') await this.worker.terminate();
    await this.exitedPromise;
  }

  /** Terminate a replica that misbehaves; reported as a death so the runner restarts it. */
  async terminateAsDead(reason: string): Promise<void> {
    this.lastError = reason;
    await this.worker.terminate();
    await this.exitedPromise;
  }

  get logger(): Logger {
    return this.log;
  }
}

/** A handler that does not load is bad input with a file and line (a WarrenError); anything else is the world's fault. */
function startError(fatal: Extract<FromReplica, { type: 'fatal' }>): Error {
  if (!isErrorCode(fatal.code)) return new Error(fatal.message);
  const details = Object.fromEntries(Object.entries(fatal.details ?? {}).filter(([, v]) => v !== undefined));
  return new WarrenError(fatal.code, fatal.message, details);
}
