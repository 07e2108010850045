/** `warren dev`: `start --watch` with pretty logs, bringing a local broker when none answers (dev-broker.ts). */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { DEFAULTS } from '../config/types';
import { projectDir, reportFailure } from './common';
import { brokerTargetOf, ensureDevBroker, systemDeps, type DevBrokerDeps } from './dev-broker';
import { startCommand } from './start';

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
    await ensureDevBroker(env, brokerTargetOf(await configuredUrl(dir, env)), deps);
  } catch (err) {
    return reportFailure(err, dir);
  }
  return startCommand({ dir, watch: true, pretty: true, ...(options.only !== undefined ? { only: options.only } : {}) }, env);
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
