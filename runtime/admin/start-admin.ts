/**
 * The admin API beside a running App (`warren start` calls startAdmin before app.start()). It listens
 * before the App connects, so /healthz and /readyz answer while the broker is still down.
 */
import type { Logger } from 'pino';
import type { App } from '../app';
import { resolveAdminBinding } from './auth';
import { QueueDepths } from './depths';
import { createMetricsRegistry } from './metrics';
import { brokerUrl, createRouter, type AdminTarget } from './routes';
import { browseDeadLetters, findDeadLetters, purgeDeadLetters, replayDeadLetters } from '../deadletters';
import { startAdminServer } from './server';
import { deadLetterQueue, describeRuntime, notReadyReason, retryQueues, runtimeQueues } from './view';
import { LiveFeed } from './live-feed';
import { createWebHandler } from './web';
import { dashboardAssets } from './assets-dir';
import { oneAtATime } from './dead-letter-turns';
import { functionNamed } from '../config/types';

/** How old the queue depths in the live feed may be while no dashboard is open. */
const UNWATCHED_DEPTH_MS = 5_000;

export interface AdminContext {
  env: Record<string, string | undefined>;
  log: Logger;
}

export async function startAdmin(app: App, ctx: AdminContext): Promise<{ close(): Promise<void> }> {
  const binding = resolveAdminBinding(ctx.env);
  const log = ctx.log.child({ stage: 'admin' });
  // The config is loaded after the server listens; read it at request time.
  const target: AdminTarget = app;
  // What changes a dead-letter queue through the admin API (the dashboard's buttons) is said in the log: who did what, when.
  const deadLetters = oneAtATime({
    browse: browseDeadLetters,
    find: findDeadLetters,
    async replay(url, deadQueue, options) {
      const result = await replayDeadLetters(url, deadQueue, options);
      log.info(
        {
          queue: deadQueue,
          into: result.target,
          replayed: result.replayed,
          kept: result.kept.length,
          ...(options.keys ? { keys: options.keys.slice(0, 20) } : {}),
          ...(options.search ? { search: options.search } : {}),
          ...(options.body ? { edited: true } : {}),
        },
        `replayed ${result.replayed} dead letter${result.replayed === 1 ? '' : 's'} of ${deadQueue} into ${result.target}${result.kept.length ? `; ${result.kept.length} stayed` : ''}`,
      );
      return result;
    },
    async purge(url, queue) {
      const purged = await purgeDeadLetters(url, queue);
      log.info({ queue, purged }, `purged ${purged} dead letter${purged === 1 ? '' : 's'} of ${queue}`);
      return purged;
    },
  });
  const depths = new QueueDepths({ url: () => (target.config ? brokerUrl(target.config) : undefined), log, held: (queue) => deadLetters.busy(queue) });
  const metrics = createMetricsRegistry({
    status: () => app.supervisor.status(),
    ready: () => app.ready(),
    deadLetterQueue: (name) => deadLetterQueue(functionNamed(target.config, name)),
    retryQueues: (name) => retryQueues(functionNamed(target.config, name)),
    depth: (queue) => depths.get(queue),
  });
  const router = createRouter({
    app: target,
    metrics,
    depth: (queue) => depths.get(queue),
    queueExists: (queue) => depths.exists(queue),
    deadLetters,
  });
  const feed = new LiveFeed({
    source: {
      async read(watched) {
        const status = app.supervisor.status();
        const queues = runtimeQueues(target.config, status);
        // The feed ticks with no page open too (the charts' history): the broker is asked for depths
        // less often then, and not at all while the runtime starts (it is declaring the topology). Its
        // reads are its own: a request does not take them (./depths.ts).
        const read = watched ? { background: true } : { maxAgeMs: UNWATCHED_DEPTH_MS, background: true };
        const skip = !watched && app.state !== 'running';
        const found = new Map(await Promise.all(queues.map(async (q) => [q, skip ? null : await depths.get(q, read)] as const)));
        const ready = app.ready();
        const why = ready ? null : (notReadyReason(app.state, app.blockedBy, status, app.refused) ?? `runtime is ${app.state}`);
        const { functions: views, delayed } = describeRuntime(target.config, status, found, app.time);
        return { state: app.state, ready, why, status, views, warnings: app.warnings, delayed };
      },
    },
    onError: (err) => log.warn({ err }, 'dashboard live frame failed'),
  });
  feed.start();
  const web = createWebHandler({ binding, assetsDir: dashboardAssets(), feed, log });
  const server = await startAdminServer(binding, router, log, web).catch(async (err: unknown) => {
    await depths.close();
    throw err;
  });
  return {
    async close() {
      feed.close();
      await server.close();
      await depths.close();
    },
  };
}
