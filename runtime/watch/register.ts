/**
 * `--watch` (and `warren dev`): a start hook that watches the project and reloads the App when a
 * file changes. Imported for its side effect by cli/start.ts; inactive without --watch.
 */
import { hooks, type StartHook } from '../cli/hooks';
import type { App } from '../app';
import { createReloader } from './reloader';
import { watchProject, type ProjectWatcher } from './watcher';

const CONFIG_POLL_MS = 20;

export const watchHook: StartHook = async (app, ctx) => {
  if (!ctx.watch) return { close: async () => undefined };
  const log = ctx.log.child({ stage: 'watch' });
  const reloader = createReloader({
    reload: () => app.reload(),
    ready: () => app.state === 'running',
    onError: (err) => log.error({ err }, 'reload failed; the running version keeps serving'),
  });
  let closed = false;
  let watcher: ProjectWatcher | null = null;
  // The hook runs before the App has loaded its config (and so knows its absolute folder): start watching once it has.
  const started = whenConfigured(app, () => closed).then(async (dir) => {
    if (dir === undefined || closed) return;
    watcher = await watchProject({
      dir,
      onChange: (paths) => {
        log.debug({ paths }, 'files changed');
        reloader.request(paths);
      },
      onError: (err) => log.error({ err }, 'file watcher error'),
    });
    if (closed) await watcher.close();
    else log.info({ dir }, 'watching functions/, queues.yaml and rascal.json for changes');
  });
  return {
    async close() {
      closed = true;
      await started.catch((err: unknown) => log.error({ err }, 'file watcher did not start'));
      await watcher?.close();
      await reloader.close();
    },
  };
};

async function whenConfigured(app: App, isClosed: () => boolean): Promise<string | undefined> {
  for (;;) {
    if (app.config !== undefined) return app.config.dir;
    if (isClosed() || app.state === 'stopping' || app.state === 'stopped') return undefined;
    await new Promise((resolve) => setTimeout(resolve, CONFIG_POLL_MS));
  }
}

hooks.beforeStart.push(watchHook);
