/**
 * A running Warren: the validated config, the built handlers, the declared topology and the
 * supervisor, with the operations the admin API, `--watch` and signals call (deploy, scale, stop).
 * It announces what others wait for through typed events: `configured` once the config is loaded
 * and valid (the watcher needs its folder), `reloaded` after a reload applied a change.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { PrettyLogs } from './log';
import type { WarrenConfig, FunctionConfig } from './config/types';
import { loadConfig } from './config';
import { buildHandler } from './functions/bundle';
import { buildDirFor } from './functions/build-dir';
import { declareTopology } from './topology/declare';
import { sleep } from './lib/sleep';
import { Supervisor } from './supervisor/supervisor';
import type { Build } from './supervisor/function-runner';
import { WarrenError, WarrenErrors, redactUrl } from './errors';
import { TimeKeeper } from './time/keeper';
import { planReload } from './plan-reload';

export interface AppOptions {
  dir: string;
  env: Record<string, string | undefined>;
  log: Logger;
  logLevel: string;
  pretty: PrettyLogs;
  /** run only these functions (`start --only a,b`) */
  only?: readonly string[];
  /** replicas of each function, overriding queues.yaml (`start --replicas N`: one pod, one consumer) */
  replicas?: number;
}

export type AppState = 'idle' | 'connecting' | 'running' | 'stopping' | 'stopped';

export interface ReloadResult {
  added: string[];
  removed: string[];
  redeployed: string[];
}

export interface AppEvents {
  /** the config is loaded, valid and its handlers built: emitted once, before the App connects */
  configured: [config: WarrenConfig];
  /** a reload changed what runs (not emitted when it changed nothing or failed) */
  reloaded: [result: ReloadResult, config: WarrenConfig];
}

const CONNECT_RETRY_MIN_MS = 1_000;
const CONNECT_RETRY_MAX_MS = 30_000;

export class App extends EventEmitter<AppEvents> {
  readonly supervisor: Supervisor;
  /** delayed delivery and scheduled functions */
  readonly time: TimeKeeper;
  /** undefined until start() has loaded it (the admin API answers before that) */
  private current: WarrenConfig | undefined;
  /**
   * What the topology is declared from: every function of the project, even under `--only`. Planning
   * only the selected ones would declare the others' queues as plain quorum queues (no dead-letter
   * route, no delivery limit), which the preflight then reports as a mismatch once they exist.
   */
  private declared: WarrenConfig | undefined;
  state: AppState = 'idle';
  /** the error that keeps the runtime from being ready (broker down), for /readyz */
  blockedBy: string | null = null;
  private stopSignal = new AbortController();

  constructor(private readonly options: AppOptions) {
    super();
    this.supervisor = new Supervisor({ log: options.log, logLevel: options.logLevel, pretty: options.pretty });
    this.time = new TimeKeeper(options.log);
  }

  /** The config that runs, or undefined before start() loaded it. */
  get config(): WarrenConfig | undefined {
    return this.current;
  }

  /**
   * Under `start --only`: the functions selected and every function of the project, so a command that
   * names one of the others hears that another runtime runs it. Undefined without --only or before start().
   */
  get selection(): { only: readonly string[]; project: readonly string[] } | undefined {
    const only = this.options.only;
    if (!only?.length || !this.declared) return undefined;
    return { only, project: Object.keys(this.declared.functions) };
  }

  /** The config that runs; a WarrenError (not ready) before start() loaded it. */
  requireConfig(): WarrenConfig {
    if (!this.current) throw new WarrenError('WARREN_E_NOT_READY', 'the runtime has not loaded its config yet');
    return this.current;
  }

  /** Validate and build everything (throws WarrenErrors: bad input), then connect and run. */
  async start(): Promise<void> {
    const loaded = await loadConfig({ dir: this.options.dir, env: this.options.env });
    const config = selectFunctions(loaded, this.options.only, this.options.replicas);
    const builds = await this.buildAll(Object.values(config.functions));
    this.current = config;
    this.declared = loaded;
    this.emit('configured', config);
    this.state = 'connecting';
    // The replicas' threads boot (most of a start's time) while the broker declares the topology;
    // they consume once it is declared. A failed or stopped start leaves them held: stop() drains them.
    const topology = this.declareWithRetry(loaded).then(() => {
      if (this.stopSignal.signal.aborted) throw new WarrenError('WARREN_E_NOT_READY', 'stopped before the topology was declared');
    });
    const started = this.supervisor.start(config, builds, topology);
    try {
      await topology;
    } catch (err) {
      if (this.stopSignal.signal.aborted) return;
      throw err;
    }
    await started;
    await this.time.start(config);
    this.state = 'running';
  }

  /** Rebuild one function from its file and redeploy it; a failed build keeps the old version serving. */
  async deploy(name: string): Promise<{ version: string; changed: boolean }> {
    const { functions } = this.requireConfig();
    const fn = functions[name];
    if (!fn) throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, { hint: `known: ${Object.keys(functions).join(', ')}` });
    const [build] = (await this.buildAll([fn])).values();
    const current = this.supervisor.status().find((s) => s.name === name);
    if (current && current.version === build!.version) return { version: build!.version, changed: false };
    await this.supervisor.deploy(name, build!);
    return { version: build!.version, changed: true };
  }

  ready(): boolean {
    return this.state === 'running' && this.supervisor.ready();
  }

  /** Drain and stop; safe to call twice. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.stopSignal.abort();
    // Schedules first: another instance takes over emitting while this one drains.
    await this.time.stop();
    await this.supervisor.stop();
    this.state = 'stopped';
  }

  buildDir(): string {
    return buildDirFor(this.options.dir, this.options.env);
  }

  private async buildAll(fns: readonly FunctionConfig[]): Promise<Map<string, Build>> {
    const outDir = this.buildDir();
    const results = await Promise.allSettled(fns.map((fn) => buildHandler({ file: fn.file, name: fn.name, outDir })));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [asWarrenError(r.reason)] : []));
    if (errors.length) throw new WarrenErrors(errors);
    const builds = new Map<string, Build>();
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') builds.set(fns[i]!.name, { bundleFile: r.value.bundleFile, version: r.value.version });
    });
    return builds;
  }

  /** A broker that is down at start is waited for with backoff: no crash loop, /readyz says why. */
  private async declareWithRetry(config: WarrenConfig): Promise<void> {
    let delay = CONNECT_RETRY_MIN_MS;
    for (;;) {
      try {
        await declareTopology(config, { log: this.options.log });
        this.blockedBy = null;
        return;
      } catch (err) {
        if (!(err instanceof WarrenError && err.code === 'WARREN_E_BROKER_UNREACHABLE')) throw err;
        this.blockedBy = err.message;
        this.options.log.warn({ url: redactUrl(config.url), retryInMs: delay }, `${err.message}; retrying`);
        await sleep(delay, this.stopSignal.signal);
        if (this.stopSignal.signal.aborted) return;
        delay = Math.min(CONNECT_RETRY_MAX_MS, delay * 2);
      }
    }
  }

  /**
   * Apply what changed on disk (`--watch`): start new functions, stop removed ones (their queues and
   * messages stay), restart those whose settings changed, redeploy those whose code changed. An invalid
   * config or a failed build is logged with file and line and changes nothing: the old version keeps serving.
   */
  async reload(): Promise<ReloadResult> {
    const log = this.options.log.child({ stage: 'reload' });
    const result: ReloadResult = { added: [], removed: [], redeployed: [] };
    if (this.state !== 'running' || !this.current) return result;
    const report = (err: unknown, what: string): void => {
      if (err instanceof WarrenError || err instanceof WarrenErrors)
        log.error({ problems: err.format(this.options.dir).split('\n') }, `${what}; the running version keeps serving`);
      else log.error({ err }, `${what}; the running version keeps serving`);
    };
    let next: WarrenConfig;
    let loaded: WarrenConfig;
    try {
      loaded = await loadConfig({ dir: this.options.dir, env: this.options.env });
      // `--only` keeps its selection; a selected function whose file is gone is simply not there.
      const only = this.options.only;
      next = only?.length
        ? Object.freeze({ ...loaded, functions: Object.fromEntries(Object.entries(loaded.functions).filter(([n]) => only.includes(n))) })
        : loaded;
    } catch (err) {
      report(err, 'the changed config is invalid');
      return result;
    }
    const old = this.current;
    const { added, removed, changed: restarted } = planReload(old, next);
    // Under --only, a change to another function's queue settings is declared too (see `declared`).
    const { topologyChanged } = planReload(this.declared ?? old, loaded);
    const names = Object.keys(next.functions);
    const fresh = [...added, ...restarted];

    // Build and declare side by side: a dropped-in file should consume within a second.
    const builds = new Map<string, Build>();
    const building = Promise.all(
      fresh.map((name) =>
        this.buildAll([next.functions[name]!]).then(
          (built) => built.forEach((b, n) => builds.set(n, b)),
          (err: unknown) => report(err, `function ${name} does not build`),
        ),
      ),
    );
    const declaring = !topologyChanged
      ? Promise.resolve(true)
      : declareTopology(loaded, { log: this.options.log }).then(
          () => true,
          (err: unknown) => (report(err, 'the changed topology could not be declared'), false),
        );
    const [declared] = await Promise.all([declaring, building]);
    if (!declared) return result;
    this.declared = loaded;
    // A new function that does not build is left out (the next change tries again); a changed one keeps its old settings.
    const kept = names.filter((n) => !(added.includes(n) && !builds.has(n)));
    const current = (n: string): FunctionConfig => (restarted.includes(n) && !builds.has(n) ? old.functions[n]! : next.functions[n]!);
    const applied = Object.freeze({ ...next, functions: Object.fromEntries(kept.map((n) => [n, current(n)])) });
    this.current = applied;

    for (const name of removed) {
      await this.supervisor.stopFunction(name);
      result.removed.push(name);
    }
    const starting = fresh.filter((n) => builds.has(n));
    for (const name of starting) if (restarted.includes(name)) await this.supervisor.stopFunction(name);
    if (starting.length) {
      // The supervisor builds each replica's connection settings from the config it was started with: hand it the new one.
      await this.supervisor.start(Object.freeze({ ...next, functions: Object.fromEntries(starting.map((n) => [n, next.functions[n]!])) }), builds);
      for (const name of starting) (added.includes(name) ? result.added : result.redeployed).push(name);
    }
    for (const name of names.filter((n) => !fresh.includes(n) && this.supervisor.has(n))) {
      try {
        if ((await this.deploy(name)).changed) result.redeployed.push(name);
      } catch (err) {
        report(err, `function ${name} could not be redeployed`);
      }
    }
    await this.time.update(applied);
    if (result.added.length || result.removed.length || result.redeployed.length) {
      log.info(result, 'reloaded');
      this.emit('reloaded', result, applied);
    }
    return result;
  }
}

function selectFunctions(config: WarrenConfig, only: readonly string[] | undefined, replicas?: number): WarrenConfig {
  if (replicas !== undefined) {
    const functions = Object.fromEntries(Object.entries(config.functions).map(([name, fn]) => [name, Object.freeze({ ...fn, replicas })]));
    config = Object.freeze({ ...config, functions });
  }
  if (!only || only.length === 0) return config;
  const unknown = only.filter((name) => !config.functions[name]);
  if (unknown.length) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `--only names ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not a function`, {
      hint: `functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
    });
  }
  const functions = Object.fromEntries(only.map((name) => [name, config.functions[name]!]));
  return Object.freeze({ ...config, functions });
}

function asWarrenError(err: unknown): WarrenError {
  if (err instanceof WarrenError) return err;
  return new WarrenError('WARREN_E_HANDLER_BUILD', (err as Error).message ?? String(err));
}
