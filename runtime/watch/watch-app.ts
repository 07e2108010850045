/**
 * `--watch` (and `warren dev`): watches the project and reloads the App when a file changes. `warren
 * start` calls watchApp before app.start(); watching begins when the App announces its config (and so
 * its absolute folder) through its `configured` event.
 */
import type { Logger } from 'pino';
import type { App } from '../app';
import type { WarrenConfig } from '../config/types';
import { createReloader } from './reloader';
import { watchProject, type ProjectWatcher } from './watcher';

export async function watchApp(app: App, ctx: { log: Logger }): Promise<{ close(): Promise<void> }> {
  const log = ctx.log.child({ stage: 'watch' });
  const reloader = createReloader({
    reload: () => app.reload(),
    ready: () => app.state === 'running',
    onError: (err) => log.error({ err }, 'reload failed; the running version keeps serving'),
  });
  let closed = false;
  let watcher: ProjectWatcher | null = null;
  let started: Promise<void> = Promise.resolve();
  const onConfigured = (config: WarrenConfig): void => {
    started = (async () => {
      if (closed) return;
      watcher = await watchProject({
        dir: config.dir,
        onChange: (paths) => {
          log.debug({ paths }, 'files changed');
          reloader.request(paths);
        },
        onError: (err) => log.error({ err }, 'file watcher error'),
      });
      if (closed) await watcher.close();
      else log.info({ dir: config.dir }, 'watching functions/, queues.yaml and rascal.json for changes');
    })();
  };
  if (app.config) onConfigured(app.config);
  else app.once('configured', onConfigured);
  return {
    async close() {
      closed = true;
      app.off('configured', onConfigured);
      await started.catch((err: unknown) => log.error({ err }, 'file watcher did not start'));
      await watcher?.close();
      await reloader.close();
    },
  };
}
