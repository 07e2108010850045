/**
 * `warren dev`: `start --watch` with pretty logs, bringing a local broker when none answers (dev-broker.ts).
 * A project that does not load at start waits for the next change to its files instead of exiting.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { DEFAULTS } from '../config/types';
import { projectDir, reportFailure } from './common';
import { brokerTargetOf, ensureDevBroker, systemDeps, type DevBrokerDeps } from './dev-broker';
import { parseOnly, startCommand } from './start';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EXIT } from '../errors';
import { logLevelOf } from '../log';
import { isWatched, watchProject } from '../watch/watcher';

export interface DevOptions {
  dir?: string;
  only?: string;
}

/** The broker the project would connect to; a config that does not load yet falls back to the default (start reports it). */
async function configuredUrl(dir: string, env: Record<string, string | undefined>): Promise<string> {
  try {
    return (await loadConfig({ dir, env })).url;
  } catch {
    return env.AMQP_URL || DEFAULTS.url;
  }
}

export async function devCommand(
  options: DevOptions,
  env: Record<string, string | undefined> = process.env,
  deps: DevBrokerDeps = systemDeps,
): Promise<number> {
  const dir = projectDir(options);
  try {
    // A command line or a setting of the environment is not fixed by a save: refused before anything waits.
    if (options.only !== undefined) parseOnly(options.only);
    logLevelOf(env);
    await ensureDevBroker(env, brokerTargetOf(await configuredUrl(dir, env)), deps);
  } catch (err) {
    return reportFailure(err, dir);
  }
  for (;;) {
    const began = Date.now();
    const waiting = () => process.stderr.write('warren dev: waiting for a change to queues.yaml, rascal.json or functions/ to start again (Ctrl-C to stop)\n');
    // A project that does not load (a typo in queues.yaml, a handler that does not build) is waited
    // out, as a dev server does: the next save starts it, and meanwhile the admin API and the
    // dashboard stay up saying why. No queues.yaml at all is the wrong folder.
    let changed: boolean | null = null;
    const whileRefused = async (): Promise<void> => {
      if (!existsSync(join(dir, 'queues.yaml'))) return;
      changed = await changeOrSignal(dir, began, waiting);
    };
    const code = await startCommand({ dir, watch: true, pretty: true, whileRefused, ...(options.only !== undefined ? { only: options.only } : {}) }, env);
    if (code !== EXIT.BAD_INPUT || !existsSync(join(dir, 'queues.yaml'))) return code;
    // Refused before the admin API listened (its port taken, say): waited for here.
    changed ??= await changeOrSignal(dir, began, waiting);
    if (!changed) return code;
    process.stderr.write('warren dev: files changed; starting again\n');
  }
}

/**
 * Resolves true when the project's files change, false on SIGINT or SIGTERM. A file saved since
 * `since` (while the failed start ran, before the watcher was ready) counts as a change.
 */
async function changeOrSignal(dir: string, since: number, watching: () => void): Promise<boolean> {
  let settle: (changed: boolean) => void = () => undefined;
  const outcome = new Promise<boolean>((resolve) => (settle = resolve));
  const onSignal = () => settle(false);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const root = resolve(dir);
  const watcher = await watchProject({ dir: root, onChange: () => settle(true) });
  watching();
  if (await savedSince(root, since)) settle(true);
  try {
    return await outcome;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await watcher.close();
  }
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('start --watch with pretty logs; starts a local RabbitMQ when AMQP_URL is unset and none answers')
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .option('--only <names>', 'run only these functions, comma-separated')
    .action(async (options: DevOptions) => {
      process.exitCode = await devCommand(options);
      setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
    });
}

/** Whether a file `--watch` looks at was written at or after `since` (ms). */
async function savedSince(root: string, since: number): Promise<boolean> {
  const entries = await readdir(join(root, 'functions'), { recursive: true }).catch(() => [] as string[]);
  const files = ['queues.yaml', 'rascal.json', ...entries.map((e) => join('functions', e))].map((f) => join(root, f)).filter((f) => isWatched(root, f));
  for (const file of files) {
    const modified = await stat(file).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    if (modified >= since) return true;
  }
  return false;
}
