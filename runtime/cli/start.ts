/** `warren start [--only a,b] [--watch]`: validate, declare the topology, run every function until a signal. */
import type { Command } from 'commander';
import { App } from '../app';
import { createLogger, logColour, logLevelOf, type PrettyLogs } from '../log';
import { EXIT, WarrenError, WarrenErrors } from '../errors';
import { parseCount, projectDir, reportFailure } from './common';
import { startAdmin } from '../admin/start-admin';
import { watchApp } from '../watch/watch-app';
import { warrenVersion } from '../functions/package-root';

export interface StartOptions {
  dir?: string;
  only?: string;
  replicas?: string;
  watch?: boolean;
  pretty?: boolean;
  /** `warren dev`: a project that does not load keeps the admin API up until this resolves (the next save, or a signal) */
  whileRefused?: () => Promise<void>;
}

/** A signal this soon after the first is the same one delivered twice (see onSignal). */
const SAME_SIGNAL_MS = 500;

export async function startCommand(options: StartOptions, env: Record<string, string | undefined> = process.env): Promise<number> {
  const dir = projectDir(options);
  let logLevel: string;
  try {
    logLevel = logLevelOf(env);
  } catch (err) {
    return reportFailure(err, dir);
  }
  // Replicas write to the same stdout: one decision for every thread.
  const pretty: PrettyLogs = options.pretty ? { colour: logColour(env, process.stdout.isTTY === true) } : false;
  const log = createLogger({ level: logLevel, pretty });
  let only: string[] | undefined;
  let replicas: number | undefined;
  try {
    only = options.only === undefined ? undefined : parseOnly(options.only);
    replicas = options.replicas === undefined ? undefined : parseCount(options.replicas, '--replicas', 0);
  } catch (err) {
    return reportFailure(err, dir);
  }
  const app = new App({ dir, env, log, logLevel, pretty, ...(only ? { only } : {}), ...(replicas !== undefined ? { replicas } : {}) });

  let signalledAt: number | null = null;
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  /** the signal handlers go with this start (`warren dev` starts again after a project error) */
  const unlisten = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  const stopped = new Promise<void>((resolve) => {
    onSignal = (signal: NodeJS.Signals) => {
      if (signalledAt !== null) {
        // Ctrl-C under `npm start` arrives twice: the terminal sends it to the whole process group,
        // and npm forwards the one it got. That is one request to stop, not a second.
        if (Date.now() - signalledAt < SAME_SIGNAL_MS) {
          log.info(
            { signal },
            `a second ${signal} within ${SAME_SIGNAL_MS} ms of the first is the same request to stop (one Ctrl-C reaches Warren twice under npm); send another to exit at once`,
          );
          return;
        }
        log.warn({ signal }, 'second signal: exiting now; unacked messages return to their queues');
        process.exit(EXIT.RUNTIME);
      }
      signalledAt = Date.now();
      log.info({ signal }, 'stopping: no new messages, finishing in-flight work (a second signal exits at once)');
      void app.stop().then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  // Beside the App, closed after it stops: the admin API (listening before the App connects, so
  // /healthz and /readyz answer while the broker is down) and, with --watch, the file watcher.
  const extras: Array<{ close(): Promise<void> }> = [];
  try {
    // A project that does not load (queues.yaml, a handler that does not build) is refused before the
    // admin API says it listens; `warren dev` keeps it up from the start: it waits for the next save.
    const admin = async () => void extras.push(await startAdmin(app, { env, log }));
    if (options.whileRefused) await admin();
    if (options.watch) extras.push(await watchApp(app, { log }));
    await app.start(options.whileRefused ? {} : { built: admin });
    if (signalledAt === null) log.info({ functions: Object.keys(app.requireConfig().functions), warren: warrenVersion() }, 'warren is running');
  } catch (err) {
    const known = err instanceof WarrenError || err instanceof WarrenErrors;
    if (!known) log.error({ err }, 'warren failed to start');
    // `warren dev`: the admin API stays up while the project waits for a save, /readyz and the
    // dashboard saying why it does not run.
    if (known && options.whileRefused && extras.length > 0 && signalledAt === null) {
      const code = reportFailure(err, dir);
      app.refused = refusedReason(err, dir);
      await options.whileRefused();
      await app.stop();
      await Promise.all(extras.map((e) => e.close()));
      unlisten();
      return code;
    }
    await app.stop();
    await Promise.all(extras.map((e) => e.close()));
    unlisten();
    return known ? reportFailure(err, dir) : EXIT.RUNTIME;
  }
  await stopped;
  await Promise.all(extras.map((e) => e.close()));
  unlisten();
  log.info('stopped cleanly');
  log.flush();
  return EXIT.OK;
}

/** One line for /readyz and the dashboard's banner: the first problem, and how many there are. */
function refusedReason(err: WarrenError | WarrenErrors, dir: string): string {
  const all = err instanceof WarrenErrors ? err.errors : [err];
  const first = all[0] ? all[0].format(dir).split('\n')[0] : err.message;
  const more = all.length > 1 ? ` (and ${all.length - 1} more problem${all.length === 2 ? '' : 's'})` : '';
  return `the project does not load: ${first}${more}; warren dev starts it again on the next save`;
}

/**
 * `--only a,b` → its names. An empty list is refused rather than read as "no filter": in a Kubernetes
 * Deployment, `--only "$FN"` with FN unset would otherwise run the whole project in every pod.
 */
export function parseOnly(value: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) {
    throw new WarrenError('WARREN_E_USAGE', `--only names no function (got ${JSON.stringify(value)})`, {
      hint: 'give the functions to run, e.g. --only print-message,ingest; leave --only out to run every function (is a variable such as $FN unset?)',
    });
  }
  return names;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('validate, declare the topology and run every function')
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .option('--only <names>', 'run only these functions, comma-separated')
    .option('--replicas <n>', 'replicas of every function run here, overriding queues.yaml (one Kubernetes pod = one consumer)')
    .option('--watch', 'redeploy a function when its file changes; start new files, stop deleted ones')
    .action(async (options: StartOptions) => {
      process.exitCode = await startCommand(options);
      // Worker threads and sockets are closed by now; exit even if a stray handle lingers.
      setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
    });
}
