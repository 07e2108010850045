/**
 * A running Warren: the validated config, the built handlers, the declared topology and the
 * supervisor, with the operations the admin API, `--watch` and signals call (deploy, scale, stop).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { WarrenConfig, FunctionConfig } from './config/types';
import { loadConfig } from './config';
import { buildHandler } from './functions/build';
import { declareTopology } from './topology/declare';
import { Supervisor } from './supervisor/supervisor';
import type { Build } from './supervisor/function-runner';
import { WarrenError, WarrenErrors, redactUrl } from './errors';

export interface AppOptions {
  dir: string;
  env: Record<string, string | undefined>;
  log: Logger;
  logLevel: string;
  pretty: boolean;
  /** run only these functions (`start --only a,b`) */
  only?: readonly string[];
}

export type AppState = 'idle' | 'connecting' | 'running' | 'stopping' | 'stopped';

const CONNECT_RETRY_MIN_MS = 1_000;
const CONNECT_RETRY_MAX_MS = 30_000;

export class App {
  readonly supervisor: Supervisor;
  config!: WarrenConfig;
  state: AppState = 'idle';
  /** the error that keeps the runtime from being ready (broker down), for /readyz */
  blockedBy: string | null = null;
  private stopSignal = new AbortController();

  constructor(private readonly options: AppOptions) {
    this.supervisor = new Supervisor({ log: options.log, logLevel: options.logLevel, pretty: options.pretty });
  }

  /** Validate and build everything (throws WarrenErrors: bad input), then connect and run. */
  async prepare(): Promise<Map<string, Build>> {
    this.config = selectFunctions(await loadConfig({ dir: this.options.dir, env: this.options.env }), this.options.only);
    return this.buildAll(Object.values(this.config.functions));
  }

  async start(): Promise<void> {
    const builds = await this.prepare();
    this.state = 'connecting';
    await this.declareWithRetry();
    if (this.stopSignal.signal.aborted) return;
    await this.supervisor.start(this.config, builds);
    this.state = 'running';
  }

  /** Rebuild one function from its file and redeploy it; a failed build keeps the old version serving. */
  async deploy(name: string): Promise<{ version: string; changed: boolean }> {
    const fn = this.config.functions[name];
    if (!fn) throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, { hint: `known: ${Object.keys(this.config.functions).join(', ')}` });
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
    await this.supervisor.stop();
    this.state = 'stopped';
  }

  buildDir(): string {
    const key = createHash('sha256').update(this.options.dir).digest('hex').slice(0, 10);
    return this.options.env.WARREN_BUILD_DIR ?? join(tmpdir(), `warren-build-${key}`);
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
  private async declareWithRetry(): Promise<void> {
    let delay = CONNECT_RETRY_MIN_MS;
    for (;;) {
      try {
        await declareTopology(this.config, { log: this.options.log });
        this.blockedBy = null;
        return;
      } catch (err) {
        if (!(err instanceof WarrenError && err.code === 'WARREN_E_BROKER_UNREACHABLE')) throw err;
        this.blockedBy = err.message;
        this.options.log.warn({ url: redactUrl(this.config.url), retryInMs: delay }, `${err.message}; retrying`);
        await sleep(delay, this.stopSignal.signal);
        if (this.stopSignal.signal.aborted) return;
        delay = Math.min(CONNECT_RETRY_MAX_MS, delay * 2);
      }
    }
  }
}

function selectFunctions(config: WarrenConfig, only: readonly string[] | undefined): WarrenConfig {
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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
