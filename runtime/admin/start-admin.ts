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
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from '../deadletters';
import { startAdminServer } from './server';
import { deadLetterQueue } from './view';

export interface AdminContext {
  env: Record<string, string | undefined>;
  log: Logger;
}

export async function startAdmin(app: App, ctx: AdminContext): Promise<{ close(): Promise<void> }> {
  const binding = resolveAdminBinding(ctx.env);
  const log = ctx.log.child({ stage: 'admin' });
  // The config is loaded after the server listens; read it at request time.
  const target: AdminTarget = app;
  const depths = new QueueDepths({ url: () => (target.config ? brokerUrl(target.config) : undefined), log });
  const metrics = createMetricsRegistry({
    status: () => app.supervisor.status(),
    ready: () => app.ready(),
    deadLetterQueue: (name) => deadLetterQueue(target.config?.functions[name]),
    depth: (queue) => depths.get(queue),
  });
  const router = createRouter({
    app: target,
    metrics,
    depth: (queue) => depths.get(queue),
    deadLetters: { list: listDeadLetters, replay: replayDeadLetters, purge: purgeDeadLetters },
  });
  const server = await startAdminServer(binding, router, log).catch(async (err: unknown) => {
    await depths.close();
    throw err;
  });
  return {
    async close() {
      await server.close();
      await depths.close();
    },
  };
}
