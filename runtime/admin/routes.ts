/**
 * The admin API's routes (SPEC §7, and `POST /deploy`: read the project again, as `warren deploy --all`
 * does), independent of node:http: each takes the parsed request and returns a Reply. Scale and deploy of one function are serialised, so two callers never interleave
 * a drain with a redeploy of the same replicas.
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { EmitterStatus } from '../schedule/emitter';
import { functionNamed, type WarrenConfig } from '../config/types';
import type { AppState, ReloadResult } from '../app';
import { notRunHere } from '../selection';
import type { FunctionStatus } from '../supervisor/supervisor';
import { ERRORS, WarrenError, WarrenErrors } from '../errors';
import { errorReply, fail, ok, type Reply } from './replies';
import { describeRuntime, notReadyReason, runtimeQueues } from './view';
import type { QueueDepth } from './depths';
import { functionName, integerField, isReply, noOptions, objectBody, onlyKeys } from './validate';
import { vhostUrl } from '../topology/names';
import { PerKeyLock } from '../lib/per-key-lock';
import { deadLetterRoutes, type DeadLetterTools } from './dead-letter-routes';
import { describeTopology } from './topology-view';
import { scanHandlers } from '../functions/discover';

export type { DeadLetterTools } from './dead-letter-routes';

/** The config's URL may leave the vhost to rascal.json: connect to the vhost Warren declared. */
export function brokerUrl(config: WarrenConfig): string {
  return vhostUrl(config.url, config.vhost);
}

/** What the routes need of the App (runtime/app.ts), so tests can pass a stand-in. */
export interface AdminTarget {
  readonly state: AppState;
  readonly blockedBy: string | null;
  /** why the project did not load, while `warren dev` waits for a save */
  readonly refused: string | null;
  /** undefined until the config is loaded */
  readonly config: WarrenConfig | undefined;
  ready(): boolean;
  readonly supervisor: {
    status(): FunctionStatus[];
    scale(name: string, replicas: number): Promise<void>;
  };
  /** redeploy one function; one the runtime does not run yet (a new file) is started */
  deploy(name: string): Promise<{ version: string | null; changed: boolean; problems: unknown[] }>;
  /** read the project again and apply what changed (as `--watch` does); `declare`: declare the topology even if unchanged */
  reload(scope?: readonly string[], options?: { declare?: boolean }): Promise<ReloadResult>;
  /** under `start --only`: the selection and every function of the project (absent in tests that have none) */
  readonly selection?: { only: readonly string[]; project: readonly string[] } | undefined;
  /** the function's queue is gone from the broker: declare the topology again (absent in tests that have none) */
  queueGone?(fn: string, queue: string): Promise<void>;
  /** scheduled functions' emitters (absent in tests that have none) */
  readonly time?: { status(): Record<string, EmitterStatus>; delayedHeld(): number };
  /** the project's files' warnings, and what the last reload could not apply (absent in tests that have none) */
  readonly warnings?: readonly string[];
}

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface RouteDeps {
  app: AdminTarget;
  metrics: Registry;
  depth(queue: string): Promise<QueueDepth | null>;
  /** whether the queue is on the broker: false only when the broker says it is not, null when it cannot tell */
  queueExists?(queue: string): Promise<boolean | null>;
  deadLetters: DeadLetterTools | null;
}

/** Upper bound of `scale`: a typo like 1000 should not start a thousand threads. */
export const MAX_REPLICAS = 256;

export type Router = (req: AdminRequest) => Promise<Reply>;

export function createRouter(deps: RouteDeps): Router {
  const { app } = deps;
  const locks = new PerKeyLock();

  /** Run `work` after any earlier scale/deploy of the same function has settled. */
  function exclusively<T>(name: string, work: () => Promise<T>): Promise<T> {
    return locks.run(name, work);
  }

  async function functionsView() {
    const config = app.config;
    const status = app.supervisor.status();
    const depths = new Map(await Promise.all(runtimeQueues(config, status).map(async (q) => [q, await deps.depth(q)] as const)));
    const warnings = app.warnings ?? [];
    return {
      state: app.state,
      ready: app.ready(),
      blockedBy: app.blockedBy,
      ...describeRuntime(config, status, depths, app.time),
      ...(warnings.length ? { warnings: [...warnings] } : {}),
    };
  }

  function knownFunction(name: string): Reply | null {
    if (functionNamed(app.config, name)) return null;
    const selection = app.selection;
    if (selection?.project.includes(name)) return errorReply(notRunHere(name, selection.only));
    const known = Object.keys(app.config?.functions ?? {});
    return fail('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`, known.length ? `functions: ${known.join(', ')}` : undefined);
  }

  function requireRunning(): Reply | null {
    if (app.state === 'running') return null;
    return fail('WARREN_E_NOT_READY', notReadyReason(app.state, app.blockedBy, [], app.refused) ?? `runtime is ${app.state}`, 'wait until /readyz answers 200');
  }

  const routes: Array<{ method: string; pattern: RegExp; run(req: AdminRequest, name: string): Promise<Reply> }> = [
    { method: 'GET', pattern: /^\/healthz$/, run: async () => ok({ status: 'alive', state: app.state }) },
    {
      method: 'GET',
      pattern: /^\/readyz$/,
      run: async () => {
        const reason = app.ready() ? null : (notReadyReason(app.state, app.blockedBy, app.supervisor.status(), app.refused) ?? 'not ready');
        return reason ? { status: ERRORS.WARREN_E_NOT_READY.http, body: { ready: false, error: reason, code: 'WARREN_E_NOT_READY' } } : ok({ ready: true });
      },
    },
    {
      method: 'GET',
      pattern: /^\/metrics$/,
      run: async (req) => {
        // ?name=warren_messages_total (repeatable): those metrics alone, as Prometheus exporters'
        // collect[] does. A watcher polling one counter then costs no queue-depth reads at the broker.
        const names = [...req.query.getAll('name'), ...req.query.getAll('name[]')];
        if (names.length === 0) return { status: 200, text: await deps.metrics.metrics(), contentType: deps.metrics.contentType };
        const unknown = names.filter((n) => !deps.metrics.getSingleMetric(n));
        if (unknown.length > 0) {
          const known = deps.metrics.getMetricsAsArray().map((m) => m.name);
          return fail('WARREN_E_USAGE', `no metric named ${unknown.join(', ')}`, `name one of: ${known.join(', ')}; or leave ?name= out for them all`);
        }
        const parts = await Promise.all([...new Set(names)].map((n) => deps.metrics.getSingleMetricAsString(n)));
        return { status: 200, text: `${parts.join('\n')}\n`, contentType: deps.metrics.contentType };
      },
    },
    { method: 'GET', pattern: /^\/functions$/, run: async () => ok(await functionsView()) },
    {
      method: 'GET',
      pattern: /^\/functions\/([^/]+)$/,
      run: async (_req, name) => {
        const view = (await functionsView()).functions.find((f) => f.name === name);
        return view ? ok(view) : (knownFunction(name) ?? fail('WARREN_E_UNKNOWN_FUNCTION', `no function named ${name}`));
      },
    },
    {
      method: 'POST',
      pattern: /^\/functions\/([^/]+)\/scale$/,
      run: async (req, name) => {
        const body = objectBody(req.body);
        if (isReply(body)) return body;
        const extra = onlyKeys(body, ['replicas'], '{"replicas": 3}');
        if (extra) return extra;
        const n = integerField(body, req.query, 'replicas', { min: 0, max: MAX_REPLICAS, example: '{"replicas": 3}' });
        if (isReply(n)) return n;
        if (n === undefined) return fail('WARREN_E_USAGE', 'replicas is missing', 'send {"replicas": 3}');
        const refused = knownFunction(name) ?? requireRunning();
        if (refused) return refused;
        await exclusively(name, async () => {
          const fn = functionNamed(app.config, name);
          const running = app.supervisor.status().find((f) => f.name === name)?.running ?? 0;
          // Scaling up a function whose queue was deleted meanwhile: declared again first (a read of now, not the cache).
          if (fn && n > running && app.queueGone && (await deps.queueExists?.(fn.queue)) === false) await app.queueGone(name, fn.queue);
          await app.supervisor.scale(name, n);
        });
        const s = app.supervisor.status().find((f) => f.name === name);
        return ok({ name, replicas: { desired: s?.desired ?? n, running: s?.running ?? 0 } });
      },
    },
    {
      method: 'POST',
      pattern: /^\/functions\/([^/]+)\/deploy$/,
      run: async (req, name) => {
        // A function the runtime does not run yet may be a file added since: deploy reads the project for it.
        const known = knownFunction(name);
        // Neither run nor in functions/: unknown whatever the runtime's state (a 404, not "wait until ready").
        const noFile = known && app.config && !(await hasHandlerFile(app.config.dir, name));
        const refused = noOptions(req.body) ?? (noFile ? known : null) ?? requireRunning() ?? (app.selection?.project.includes(name) ? known : null);
        if (refused) return refused;
        return exclusively(name, async () => {
          const from = app.supervisor.status().find((f) => f.name === name)?.version ?? null;
          try {
            const { version, changed, problems } = await app.deploy(name);
            return ok({ name, from, version, changed, problems: problems.map((p) => errorReply(p, app.config?.dir).body) });
          } catch (err) {
            // Built, but the new replicas did not start: FunctionRunner.deploy kept the old ones serving.
            if (!(err instanceof WarrenError && err.code === 'WARREN_E_REPLICA_START') && (err instanceof WarrenError || err instanceof WarrenErrors))
              throw err;
            return fail(
              'WARREN_E_DEPLOY_FAILED',
              `${name}: the new version did not start: ${(err as Error).message}`,
              `still serving ${from ?? 'the old version'}; see the runtime log`,
            );
          }
        });
      },
    },
    {
      method: 'POST',
      pattern: /^\/deploy$/,
      run: async (req) => {
        const refused = noOptions(req.body) ?? requireRunning();
        if (refused) return refused;
        const versions = () => new Map(app.supervisor.status().map((s) => [s.name, s.version]));
        const before = versions();
        // The topology is declared again: what was deleted on the broker since (an exchange, a binding) is back.
        const { added, removed, redeployed, problems } = await app.reload(undefined, { declare: true });
        const after = versions();
        const names = [...new Set([...before.keys(), ...after.keys()])].sort();
        const changed = new Set([...added, ...removed, ...redeployed]);
        return ok({
          functions: names.map((name) => ({ name, from: before.get(name) ?? null, version: after.get(name) ?? null, changed: changed.has(name) })),
          problems: problems.map((p) => errorReply(p, app.config?.dir).body),
        });
      },
    },
    ...deadLetterRoutes({ tools: deps.deadLetters, config: () => app.config, url: brokerUrl, knownFunction }),
    { method: 'GET', pattern: /^\/topology$/, run: async () => ok(describeTopology(app.config)) },
  ];

  return async (req) => {
    const matching = routes.filter((r) => r.pattern.test(req.path));
    if (matching.length === 0)
      return fail(
        'WARREN_E_USAGE',
        `no admin route ${req.path}`,
        'routes: /healthz /readyz /metrics /functions /functions/:name/{scale,deploy,dead-letters} /deploy /topology; the dashboard: / /events /session',
        404,
      );
    const route = matching.find((r) => r.method === req.method);
    if (!route) {
      const allowed = matching.map((r) => r.method);
      return {
        ...fail(
          'WARREN_E_USAGE',
          `${req.method} ${req.path} is not supported; use ${allowed.join(' or ')}`,
          `send ${allowed.map((method) => `${method} ${req.path}`).join(' or ')}`,
          405,
        ),
        headers: { allow: allowed.join(', ') },
      };
    }
    try {
      const segment = route.pattern.exec(req.path)?.[1];
      const name = segment === undefined ? '' : functionName(segment);
      if (isReply(name)) return name;
      return await route.run(req, name);
    } catch (err) {
      return errorReply(err, app.config?.dir);
    }
  };
}

/** A handler file for `name` in the project's functions/ (a function added since the start, which deploy starts). */
async function hasHandlerFile(dir: string, name: string): Promise<boolean> {
  const { handlers } = await scanHandlers(join(dir, 'functions')).catch(() => ({ handlers: [] }));
  return handlers.some((h) => h.name === name);
}
