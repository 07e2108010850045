/**
 * Every function of a runtime: start them, scale one, redeploy one, stop all. One FunctionRunner per
 * function, so work on one never touches another.
 */
import type { TickOutcome } from '../schedule/outcome';
import type { RecentFailure } from '../admin/wire-types';
import { effectiveBatch, effectivePrefetch } from '../config/prefetch';
import { PerKeyLock } from '../lib/per-key-lock';
import type { Logger } from 'pino';
import type { PrettyLogs } from '../log';
import type { WarrenConfig, FunctionConfig } from '../config/types';
import { replicaConnection } from '../replica-protocol/connection';
import { FunctionRunner, type Build, type RunnerSettings } from './function-runner';
import { WarrenError } from '../errors';
import type { StatsSnapshot } from '../replica-protocol/stats';

export interface SupervisorOptions {
  log: Logger;
  logLevel: string;
  pretty: PrettyLogs;
  /** a replica of `fn` found its queue gone from the broker (deleted while the runtime ran) */
  onQueueMissing?(fn: string, queue: string): void;
  /** a replica of `fn` had a publish refused: `exchange`, declared in queues.yaml, is gone from the broker */
  onExchangeMissing?(fn: string, exchange: string): void;
}

export interface FunctionStatus {
  name: string;
  queue: string;
  version: string;
  desired: number;
  running: number;
  /** replicas consuming and connected to the broker now (fewer than running while one fails over) */
  connected?: number;
  /** why the replicas reconnecting cannot get back, when a person must fix it (a vhost deleted) */
  reconnectProblem?: string | null;
  /** the broker node (`host:port`) each running replica consumes from; null while it reconnects */
  nodes?: Array<{ replica: number; node: string | null }>;
  restarts: number;
  lastError: string | null;
  stats: StatsSnapshot;
  /** the latest scheduled tick this instance's replicas settled */
  lastTick?: TickOutcome | null;
  /** its last failed attempts, newest first */
  recentFailures?: RecentFailure[];
  /** true for a batch function (its batch size histogram is in /metrics) */
  batch?: boolean;
}

export class Supervisor {
  private readonly runners = new Map<string, FunctionRunner>();
  /** one change to a function at a time (a deploy from the watcher, one from the admin API, a scale) */
  private readonly changes = new PerKeyLock();
  private config: WarrenConfig | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: SupervisorOptions) {}

  /**
   * Start every function of `config`; the replicas of one that cannot start retry with backoff. With
   * `topology` (a runtime's first start), replicas boot while it is pending and consume once it
   * resolves (RunnerOptions.topology). Resolves with why each function that could not start did not.
   */
  async start(config: WarrenConfig, builds: ReadonlyMap<string, Build>, topology?: Promise<void>): Promise<Map<string, Error>> {
    this.config = config;
    const names = Object.keys(config.functions);
    const results = await Promise.allSettled(names.map((name) => this.startFunction(config.functions[name]!, builds.get(name)!, topology)));
    return new Map(results.flatMap((r, i) => (r.status === 'rejected' ? [[names[i]!, r.reason as Error] as const] : [])));
  }

  async startFunction(fn: FunctionConfig, build: Build, topology?: Promise<void>): Promise<void> {
    const config = this.requireConfig();
    if (this.runners.has(fn.name)) throw new WarrenError('WARREN_E_INTERNAL', `function ${fn.name} is already running`);
    const runner = new FunctionRunner({
      ...runnerSettings(config, fn),
      build,
      log: this.options.log.child({ function: fn.name }),
      logLevel: this.options.logLevel,
      pretty: this.options.pretty,
      projectDir: config.dir,
      ...(topology ? { topology } : {}),
      onQueueMissing: () => this.options.onQueueMissing?.(fn.name, fn.queue),
      onExchangeMissing: (exchange) => this.options.onExchangeMissing?.(fn.name, exchange),
    });
    this.runners.set(fn.name, runner);
    const { prefetch, changes } = effectivePrefetch(fn);
    for (const change of changes) this.options.log.warn({ function: fn.name, prefetch }, change);
    const batch = effectiveBatch(fn);
    for (const change of batch.changes) this.options.log.warn({ function: fn.name, batchSize: batch.batch!.size }, change);
    if (fn.rateLimit)
      this.options.log.info(
        { function: fn.name, rateLimit: fn.rateLimit },
        "rateLimit holds across this runtime's replicas of the function; each runtime instance has its own, counted from its start (a restart begins a new window)",
      );
    await runner.start();
    // Stopped while its replicas were held (the topology never declared): it never started.
    if (this.runners.get(fn.name) !== runner) return;
    this.options.log.info({ function: fn.name, version: build.version, replicas: runner.desired }, 'function started');
  }

  async stopFunction(name: string): Promise<void> {
    const runner = this.runners.get(name);
    if (!runner) return;
    this.runners.delete(name);
    await runner.stop();
    // One whose replicas were still held (a start that failed or was stopped) never ran: nothing to say.
    if (!runner.held) this.options.log.info({ function: name }, 'function stopped; its queue and messages stay');
  }

  scale(name: string, replicas: number): Promise<void> {
    return this.changes.run(name, async () => {
      await this.runner(name).scale(replicas);
      this.options.log.info({ function: name, replicas }, 'scaled');
    });
  }

  /**
   * Redeploy one function: its new code, and with `config` its settings from that config (start the
   * new replicas, then drain the old; its counters carry on).
   */
  deploy(name: string, build: Build, config?: WarrenConfig): Promise<void> {
    return this.changes.run(name, async () => {
      const runner = this.runner(name);
      const from = runner.build.version;
      const fn = config?.functions[name];
      await runner.deploy(build, fn && config ? runnerSettings(config, fn) : undefined);
      this.options.log.info({ function: name, from, to: build.version, ...(fn ? { settings: 'changed' } : {}) }, 'deployed');
    });
  }

  has(name: string): boolean {
    return this.runners.has(name);
  }

  status(): FunctionStatus[] {
    return [...this.runners.values()].map((r) => ({
      name: r.name,
      queue: r.fn.queue,
      version: r.build.version,
      desired: r.desired,
      running: r.running,
      connected: r.connected,
      reconnectProblem: r.reconnectProblem,
      nodes: r.nodes,
      restarts: r.restarts,
      lastError: r.lastError,
      stats: r.stats(),
      lastTick: r.lastTick,
      recentFailures: r.recentFailures.list(),
      ...(r.fn.batch ? { batch: true } : {}),
    }));
  }

  /** Every function has all its desired replicas consuming, each connected to the broker. */
  ready(): boolean {
    for (const r of this.runners.values()) if (r.connected < r.desired) return false;
    return true;
  }

  /** Drain everything: stop consuming, finish in-flight work up to each timeout, requeue the rest. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= Promise.all([...this.runners.keys()].map((name) => this.stopFunction(name))).then(() => undefined);
    return this.stopping;
  }

  private runner(name: string): FunctionRunner {
    const runner = this.runners.get(name);
    if (!runner) throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name} is running`);
    return runner;
  }

  private requireConfig(): WarrenConfig {
    if (!this.config) throw new WarrenError('WARREN_E_NOT_READY', 'the runtime has not started its functions yet');
    return this.config;
  }
}

function runnerSettings(config: WarrenConfig, fn: FunctionConfig): RunnerSettings {
  return { fn, queueType: config.queues[fn.queue]?.type ?? 'quorum', connection: replicaConnection(config, fn.name) };
}
