/**
 * A running Warren: the validated config, the built handlers, the declared topology and the
 * supervisor, with the operations the admin API, `--watch` and signals call (deploy, scale, stop).
 * It announces what others wait for through typed events: `configured` once the config is loaded
 * and valid (the watcher needs its folder), `reloaded` after a reload applied a change.
 */
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import type { Logger } from 'pino';
import type { PrettyLogs } from './log';
import { functionNamed, type WarrenConfig, type FunctionConfig } from './config/types';
import { loadProject, readProject } from './config';
import { buildEach } from './functions/build-each';
import { buildDirFor } from './functions/build-dir';
import { declareTopology } from './topology/declare';
import { sleep } from './lib/sleep';
import { Supervisor } from './supervisor/supervisor';
import type { Build } from './supervisor/function-runner';
import { ERRORS, EXIT, WarrenError, WarrenErrors, redactUrl } from './errors';
import { TimeKeeper } from './time/keeper';
import { planReload } from './plan-reload';
import { checkOnly, notRunHere, selectFunctions } from './selection';
import { RECONNECT_MAX_MS } from './connection/backoff';
import { unusableNodes, unusableNodeWarning } from './connection/list-check';
import { splitUrls } from './connection/urls';
import { amqpConnection } from './replica-protocol/connection';

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

/** a queue deleted again and again (a script, a policy) is declared again at most this often */
const REDECLARE_EVERY_MS = 5_000;

export type AppState = 'idle' | 'connecting' | 'running' | 'stopping' | 'stopped';

export interface ReloadResult {
  added: string[];
  removed: string[];
  redeployed: string[];
  /** what kept a change from being applied (each logged too): an invalid config, a build, a handler that does not load */
  problems: unknown[];
}

export interface AppEvents {
  /** the config is loaded, valid and its handlers built: emitted once, before the App connects */
  configured: [config: WarrenConfig];
  /** a reload changed what runs (not emitted when it changed nothing or failed) */
  reloaded: [result: ReloadResult, config: WarrenConfig];
}

const CONNECT_RETRY_MIN_MS = 1_000;
const CONNECT_RETRY_MAX_MS = RECONNECT_MAX_MS;

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
  /** `warren dev` waiting for a save: why the project did not load, for /readyz and the dashboard */
  refused: string | null = null;
  /** what queues.yaml and functions/ were warned about when last read (an output looping back, a file not read), as `warren check` warns: logged, and on the dashboard */
  private configWarnings: readonly string[] = [];
  /**
   * What the last reload of the whole project (`--watch`, `deploy --all`) could not apply: an invalid
   * queues.yaml, a handler that does not build. Only logged, it left /readyz at 200 and the dashboard
   * silent while the files on disk were broken; cleared by the next reload that applies.
   */
  private unapplied: readonly string[] = [];

  /** The warnings the dashboard shows on every view: the files' warnings, then what was not applied. */
  get warnings(): readonly string[] {
    return [...this.configWarnings, ...this.unapplied];
  }
  private stopSignal = new AbortController();
  /** the last reload: they run one after another */
  private reloads: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: AppOptions) {
    super();
    this.supervisor = new Supervisor({
      log: options.log,
      logLevel: options.logLevel,
      pretty: options.pretty,
      onQueueMissing: (fn, queue) =>
        this.topologyMissing(
          fn,
          { queue },
          `queue ${queue} is gone from the broker (deleted while the runtime ran?): declaring the topology again; messages published to it meanwhile were dropped by the broker`,
          `queue ${queue} declared again; ${fn} consumes from it once its replicas reconnect`,
        ),
      onExchangeMissing: (fn, exchange) =>
        this.topologyMissing(
          fn,
          { exchange },
          `exchange ${exchange} is gone from the broker (deleted while the runtime ran?): declaring the topology again, with its bindings`,
          `exchange ${exchange} declared again, with its bindings; the messages whose output it refused are retried after their backoff`,
        ),
    });
    this.time = new TimeKeeper(options.log);
  }

  /** when the topology was last declared again for a queue or exchange gone from the broker */
  private redeclaredAt = 0;

  /**
   * A function's queue, or an exchange queues.yaml declares, is gone from the broker while the runtime
   * runs (deleted by hand, by a policy's `expires`): the whole topology is declared again, bindings
   * included, as a start would. The function's replicas, reconnecting with backoff meanwhile, consume
   * again; a message whose output the missing exchange refused is retried after its backoff. Messages
   * published to a queue while it did not exist were dropped by the broker. At most once every few
   * seconds, after a reload in progress.
   */
  private topologyMissing(fn: string, what: { queue: string } | { exchange: string }, gone: string, back: string): void {
    if (!this.declared || this.state !== 'running' || Date.now() - this.redeclaredAt < REDECLARE_EVERY_MS) return;
    void this.declareMissing(fn, what, gone, back);
  }

  /**
   * Before a scale up (./admin/routes.ts): the function's queue is gone from the broker (deleted while
   * it ran at 0 replicas, so no replica found out): the topology is declared again first, so the new
   * replicas consume at once instead of failing the scale, then coming up a moment later.
   */
  async queueGone(fn: string, queue: string): Promise<void> {
    if (!this.declared || this.state !== 'running') return;
    await this.declareMissing(
      fn,
      { queue },
      `queue ${queue} is gone from the broker (deleted while the runtime ran?): declaring the topology again before ${fn} scales up`,
      `queue ${queue} declared again`,
    );
  }

  /** Declares the topology again for `what`, gone from the broker, saying so (`gone`, then `back` or why not). */
  private async declareMissing(fn: string, what: { queue: string } | { exchange: string }, gone: string, back: string): Promise<void> {
    const log = this.options.log;
    this.redeclaredAt = Date.now();
    log.warn({ function: fn, ...what }, gone);
    const name = 'queue' in what ? `queue ${what.queue}` : `exchange ${what.exchange}`;
    await this.declareAgain().then(
      () => log.info({ function: fn, ...what }, back),
      (err: unknown) => log.error({ err, function: fn, ...what }, `${name} could not be declared again: ${err instanceof Error ? err.message : String(err)}`),
    );
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

  /**
   * Validate and build everything (throws WarrenErrors: bad input), then connect and run. `built` is
   * awaited once every handler built, while the broker is still being reached (the admin API starts
   * there: a project that does not load never says it listens, a broker that is down does).
   */
  async start(hooks: { built?: () => Promise<void> } = {}): Promise<void> {
    const read = await readProject({ dir: this.options.dir, env: this.options.env });
    for (const warning of read.warnings) this.options.log.warn(warning);
    this.configWarnings = read.warnings;
    if (!read.project || read.errors.length > 0) {
      // Refused: the handler files that exist are built too, so their errors are listed beside the config's.
      const only = this.options.only;
      const { errors } = await buildEach(only ? read.handlers.filter((h) => only.includes(h.name)) : read.handlers, this.buildDir());
      throw new WarrenErrors([...read.errors, ...errors]);
    }
    const loaded = read.project.config;
    checkOnly(loaded, this.options.only);
    const config = selectFunctions(loaded, this.options);
    // The handlers build while the broker is reached and the preflight (which declares nothing) runs;
    // nothing is declared unless every handler built.
    // The admin API listens before anything is declared too: one that cannot (its port taken, no token
    // on a public address) refuses the start with nothing changed on the broker.
    const building = this.buildAll(Object.values(config.functions)).then(async (builds) => {
      await hooks.built?.();
      return builds;
    });
    const topology = this.declareWithRetry(loaded, building).then(() => {
      if (this.stopSignal.signal.aborted) throw new WarrenError('WARREN_E_NOT_READY', 'stopped before the topology was declared');
    });
    // Awaited below, or dropped with the build's error (the declaration then stopped before declaring).
    topology.catch(() => undefined);
    const builds = await building;
    this.current = config;
    this.declared = loaded;
    this.emit('configured', config);
    this.state = 'connecting';
    // The replicas' threads boot (most of a start's time) while the broker declares the topology;
    // they consume once it is declared. A failed or stopped start leaves them held: stop() drains them.
    const started = this.supervisor.start(config, builds, topology);
    try {
      await topology;
    } catch (err) {
      if (this.stopSignal.signal.aborted) return;
      throw err;
    }
    const failures = [...(await started)].map(([name, err]) => `${name}: ${err instanceof WarrenError ? err.format(config.dir) : err.message}`);
    if (failures.length) this.options.log.error({ failed: failures }, 'some functions could not start; their replicas keep retrying with backoff');
    await this.time.start(config);
    this.state = 'running';
    // Said once started, not waited for: an entry of the URL list no failover could use.
    const { url, socketOptions } = amqpConnection(config);
    void unusableNodes(url, socketOptions ? { socketOptions } : {}).then(
      (unusable) => {
        for (const n of unusable) this.options.log.warn({ node: n.node }, unusableNodeWarning(n, splitUrls(url).length));
      },
      () => undefined,
    );
  }

  /**
   * Rebuild one function from its file and redeploy it; a failed build keeps the old version serving.
   * A function the runtime does not run yet (its file was added since) is started by reading the
   * project again for it alone; one whose handler file was deleted is stopped (`version: null`), as
   * `deploy --all` stops it.
   */
  async deploy(name: string): Promise<{ version: string | null; changed: boolean; problems: unknown[] }> {
    const fn = functionNamed(this.requireConfig(), name);
    // A running function whose file is gone is a deletion, not a build error: the reload below stops it.
    // One whose entry in queues.yaml changed is redeployed with its new settings, by the reload too.
    if (fn && (await isFile(fn.file)) && !(await this.settingsChanged(name))) {
      // As a start does, what was deleted on the broker since (an exchange, a binding) is declared again;
      // beside the redeploy, which it does not hold up. A broker that refuses is logged and told to the
      // caller among `problems`: the new code runs anyway.
      const declaring = this.declareAgain().then(
        () => [],
        (err: unknown) => {
          this.options.log.error({ err, function: name }, `the topology could not be declared again: ${err instanceof Error ? err.message : String(err)}`);
          return [err];
        },
      );
      const [deployed, problems] = await Promise.all([this.redeploy(fn), declaring]);
      return { ...deployed, problems };
    }
    const { added, removed, redeployed, problems } = await this.reload([name], { declare: true });
    const version = this.supervisor.status().find((s) => s.name === name)?.version;
    if ((added.includes(name) || redeployed.includes(name)) && version) return { version, changed: true, problems: [] };
    if (removed.includes(name)) return { version: null, changed: true, problems };
    if (problems.length === 1) throw problems[0];
    const errors = problems.flatMap((p) => (p instanceof WarrenErrors ? p.errors : p instanceof WarrenError ? [p] : []));
    if (errors.length) throw new WarrenErrors(errors);
    // Running, with nothing left to apply: `--watch` applied the saved change a moment before (the
    // deploy waited behind its reload), or the deploy found the file as the running version has it.
    if (version && this.supervisor.has(name)) return { version, changed: false, problems: [] };
    const { functions } = this.requireConfig();
    if (functionNamed(this.declared ?? undefined, name) && this.options.only) throw notRunHere(name, this.options.only);
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, {
      hint: `known: ${Object.keys(functions).join(', ')}; a new function needs a handler file in functions/`,
    });
  }

  /**
   * Whether the function's entry in queues.yaml (or what it inherits: rascal.json, the defaults)
   * differs from the running one. `warren deploy FN` rebuilt the file alone: a changed `timeout` or
   * `prefetch` answered "unchanged" until `deploy --all`. A config that does not load refuses the
   * deploy with its file and line, as a restart would.
   */
  private async settingsChanged(name: string): Promise<boolean> {
    const { config: loaded, missingHandlers } = await loadProject({ dir: this.options.dir, env: this.options.env });
    const next = selectFunctions(loaded, this.options, new Set(missingHandlers.keys()));
    return planReload(this.requireConfig(), next).changed.includes(name);
  }

  private async redeploy(fn: FunctionConfig): Promise<{ version: string; changed: boolean }> {
    const [build] = (await this.buildAll([fn])).values();
    const current = this.supervisor.status().find((s) => s.name === fn.name);
    if (current && current.version === build!.version) return { version: build!.version, changed: false };
    await this.supervisor.deploy(fn.name, build!);
    return { version: build!.version, changed: true };
  }

  /** Declare the whole topology again (after a reload in progress); a WarrenError when the broker refuses. */
  private declareAgain(): Promise<void> {
    const config = this.declared;
    if (!config) return Promise.resolve();
    return this.afterReloads(() => declareTopology(config, { log: this.options.log }));
  }

  /** Reloads and declarations again run one at a time, in the order asked; a failed one does not stop the next. */
  private afterReloads<T>(work: () => Promise<T>): Promise<T> {
    const run = this.reloads.then(work);
    this.reloads = run.catch(() => undefined);
    return run;
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
    const { builds, errors } = await buildEach(
      fns.map((fn) => ({ name: fn.name, file: fn.file })),
      this.buildDir(),
    );
    if (errors.length) throw new WarrenErrors(errors);
    return new Map([...builds].map(([name, b]) => [name, { bundleFile: b.bundleFile, version: b.version }]));
  }

  /**
   * A broker that is down at start is waited for with backoff: no crash loop, /readyz says why.
   * `after`: declared only once it resolved; its rejection ends the waiting too.
   */
  private async declareWithRetry(config: WarrenConfig, after?: Promise<unknown>): Promise<void> {
    let delay = CONNECT_RETRY_MIN_MS;
    let failed: { error: unknown } | null = null;
    after?.catch((error: unknown) => (failed = { error }));
    for (;;) {
      try {
        await declareTopology(config, { log: this.options.log, ...(after ? { after } : {}) });
        this.blockedBy = null;
        return;
      } catch (err) {
        if (!(err instanceof WarrenError && err.code === 'WARREN_E_BROKER_UNREACHABLE')) throw err;
        if (failed) throw (failed as { error: unknown }).error;
        this.blockedBy = err.message;
        this.options.log.warn({ url: redactUrl(config.url), retryInMs: delay, hint: err.details.hint }, `${err.message}; retrying`);
        await sleep(delay, this.stopSignal.signal);
        if (this.stopSignal.signal.aborted) return;
        delay = Math.min(CONNECT_RETRY_MAX_MS, delay * 2);
      }
    }
  }

  /**
   * Apply what changed on disk (`--watch`, `warren deploy --all`; with `scope`, for those functions
   * alone: `warren deploy FN` of a new file): start new functions, stop removed ones and those whose
   * handler file was deleted (their queues and messages stay), redeploy those whose settings or code
   * changed. An invalid config, a failed build or a handler that does not load is logged with file and
   * line and changes nothing of that function: its running version keeps serving. One reload at a time.
   * `declare`: the topology is declared even when queues.yaml did not change it (`warren deploy`
   * brings back what was deleted on the broker since), not only when it did (`--watch`).
   */
  reload(scope?: readonly string[], options: { declare?: boolean } = {}): Promise<ReloadResult> {
    return this.afterReloads(async () => {
      const result = await this.applyReload(scope, options.declare ?? false);
      if (!scope) this.unapplied = result.problems.map((p) => `not applied, the running version keeps serving: ${problemText(p, this.options.dir)}`);
      return result;
    });
  }

  private async applyReload(scope: readonly string[] | undefined, declare: boolean): Promise<ReloadResult> {
    const log = this.options.log.child({ stage: 'reload' });
    const result: ReloadResult = { added: [], removed: [], redeployed: [], problems: [] };
    if (this.state !== 'running' || !this.current) return result;
    const old = this.current;
    const report = (err: unknown, what: string): void => {
      result.problems.push(err);
      if (err instanceof WarrenError || err instanceof WarrenErrors) log.error({ problems: err.format(this.options.dir).split('\n') }, what);
      else log.error({ err }, what);
    };
    const keeps = '; the running version keeps serving';
    const leftOut = '; it does not run until its file is fixed (saved under --watch, or `warren deploy`)';
    const touched = (name: string): boolean => !scope || scope.includes(name);
    const only = this.options.only?.length ? this.options.only : undefined;

    let loaded: WarrenConfig;
    let missing: ReadonlyMap<string, WarrenError>;
    let warnings: readonly string[];
    try {
      ({ config: loaded, missingHandlers: missing, warnings } = await loadProject({ dir: this.options.dir, env: this.options.env }));
    } catch (err) {
      report(err, 'the changed config is invalid' + keeps);
      return result;
    }
    // Said again only when new: under `dev` every save reloads.
    for (const warning of warnings) if (!this.configWarnings.includes(warning)) log.warn(warning);
    this.configWarnings = warnings;
    // An entry in queues.yaml whose handler file is gone: a deleted file stops its function (SPEC §5).
    // One whose `handler:` now names a missing file while the running one is still there is a typo: refused.
    const gone = new Map<string, string>();
    for (const [name, err] of missing) {
      if (!touched(name) || (only && !only.includes(name))) continue;
      const running = old.functions[name];
      if (running && (await isFile(running.file))) {
        report(new WarrenErrors([err]), 'the changed config is invalid' + keeps);
        return result;
      }
      // told to whoever deployed, not only logged: the next start refuses the config
      result.problems.push(err);
      if (running) gone.set(name, relative(this.options.dir, running.file));
      else {
        log.warn(
          { problems: [err.format(this.options.dir)] },
          `function ${name} has an entry in queues.yaml and no handler file: it does not run, and a restart would refuse the config until the file or the entry is there`,
        );
      }
    }

    const next = selectFunctions(loaded, this.options, new Set(missing.keys()));
    const plan = planReload(old, next);
    const [added, removed, changed] = [plan.added, plan.removed, plan.changed].map((names) => names.filter(touched)) as [string[], string[], string[]];
    // Every function of the project is declared, selected or not, running or not (see `declared`).
    const { topologyChanged } = planReload(this.declared ?? old, loaded);
    const fresh = [...added, ...changed];

    // Build and declare side by side: a dropped-in file should consume within a second.
    const builds = new Map<string, Build>();
    const building = Promise.all(
      fresh.map((name) =>
        this.buildAll([next.functions[name]!]).then(
          (built) => built.forEach((b, n) => builds.set(n, b)),
          (err: unknown) => report(err, `function ${name} does not build` + (added.includes(name) ? leftOut : keeps)),
        ),
      ),
    );
    const declaring =
      !topologyChanged && !declare
        ? Promise.resolve(true)
        : declareTopology(loaded, { log: this.options.log }).then(
            () => true,
            (err: unknown) => (
              report(err, (topologyChanged ? 'the changed topology could not be declared' : 'the topology could not be declared again') + keeps),
              false
            ),
          );
    const [declared] = await Promise.all([declaring, building]);
    if (!declared) return result;
    this.declared = loaded;

    // What runs once this reload is done: functions it does not touch (or cannot change) keep their entry.
    const functions: Record<string, FunctionConfig> = { ...old.functions };
    for (const name of plan.unchanged.filter(touched)) functions[name] = next.functions[name]!;
    for (const name of removed) {
      const file = gone.get(name);
      if (file !== undefined) {
        log.warn(
          { function: name, file },
          `${file} was deleted: function ${name} stops (its queue and messages stay); queues.yaml still has an entry for it, so a restart would refuse the config until the entry or the file is back`,
        );
      }
      await this.supervisor.stopFunction(name);
      delete functions[name];
      result.removed.push(name);
    }
    const starting = added.filter((n) => builds.has(n));
    if (starting.length) {
      // The supervisor builds each replica's connection settings from the config it was started with: hand it the new one.
      const failed = await this.supervisor.start(
        Object.freeze({ ...next, functions: Object.fromEntries(starting.map((n) => [n, next.functions[n]!])) }),
        builds,
      );
      for (const name of starting) {
        const err = failed.get(name);
        // A handler that does not load would only fail again: left out until its file changes. Broker trouble is retried.
        if (err instanceof WarrenError && ERRORS[err.code].exit === EXIT.BAD_INPUT) {
          await this.supervisor.stopFunction(name);
          report(err, `function ${name} does not load` + leftOut);
          continue;
        }
        functions[name] = next.functions[name]!;
        result.added.push(name);
      }
    }
    // New settings: the new replicas start, then the old drain, as for new code (the counters carry on).
    // Side by side: each redeploy watches its new replicas for a second (DEPLOY_WATCH_MS), and a
    // change to rascal.json redeploys every function.
    const redeploying = changed.filter((n) => builds.has(n));
    const outcomes = await Promise.allSettled(redeploying.map((name) => this.supervisor.deploy(name, builds.get(name)!, next)));
    for (const [i, name] of redeploying.entries()) {
      const outcome = outcomes[i]!;
      if (outcome.status === 'fulfilled') {
        functions[name] = next.functions[name]!;
        result.redeployed.push(name);
      } else report(outcome.reason, `function ${name} could not be redeployed with its new settings` + keeps);
    }
    for (const name of plan.unchanged.filter((n) => touched(n) && this.supervisor.has(n))) {
      try {
        if ((await this.redeploy(next.functions[name]!)).changed) result.redeployed.push(name);
      } catch (err) {
        report(err, `function ${name} could not be redeployed` + keeps);
      }
    }
    const applied = Object.freeze({ ...next, functions: Object.freeze(functions) });
    this.current = applied;
    await this.time.update(applied);
    if (result.added.length || result.removed.length || result.redeployed.length) {
      const { added: a, removed: r, redeployed: d } = result;
      log.info({ added: a, removed: r, redeployed: d }, 'reloaded');
      this.emit('reloaded', result, applied);
    }
    return result;
  }
}

/** A reload's problem on one line or a few: file, line, what, as the log says it. */
function problemText(problem: unknown, dir: string): string {
  if (problem instanceof WarrenError || problem instanceof WarrenErrors) return problem.format(dir);
  return problem instanceof Error ? problem.message : String(problem);
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}
