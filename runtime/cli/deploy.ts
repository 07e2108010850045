/**
 * `warren deploy FN` / `warren deploy --all`: the running runtime rebuilds the handler file, starts the
 * new version's replicas, then drains the old ones. A build that fails keeps the old version serving
 * and prints the file and line (exit 2).
 */
import type { Command } from 'commander';
import { EXIT, WarrenError } from '../errors';
import type { RuntimeView } from '../admin/view';
import { DIR_OPTION, checkProjectDir, createAdminClient, functionPath, reportAdminFailure, type AdminClient } from './admin-client';
import { reportFailure } from './common';

export interface DeployAnswer {
  name: string;
  from: string | null;
  version: string;
  changed: boolean;
}

/** A redeploy drains the old replicas, which may take up to the function's timeout. */
const DEPLOY_TIMEOUT_MS = 15 * 60_000;

export async function deployOne(client: AdminClient, name: string): Promise<DeployAnswer> {
  return client.post<DeployAnswer>(functionPath(name, 'deploy'), {}, { timeoutMs: DEPLOY_TIMEOUT_MS });
}

export function describeDeploy(answer: DeployAnswer): string {
  return answer.changed ? `${answer.name}: deployed ${answer.version} (was ${answer.from ?? 'not running'})` : `${answer.name}: unchanged (${answer.version})`;
}

export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('rebuild a function and redeploy it on the running runtime without losing a message')
    .argument('[function]', 'function name')
    .option('--all', 'redeploy every function, one after the other')
    .option(...DIR_OPTION)
    .action(async (name: string | undefined, options: { all?: boolean; dir?: string }) => {
      if (!name === !options.all) {
        process.exitCode = reportFailure(
          new WarrenError('WARREN_E_USAGE', name ? 'give a function name or --all, not both' : 'name the function to deploy, or give --all', {
            hint: 'e.g. `warren deploy print-message`',
          }),
        );
        return;
      }
      const client = createAdminClient();
      try {
        await checkProjectDir(options.dir);
        const names = name ? [name] : (await client.get<RuntimeView>('/functions')).functions.map((f) => f.name);
        let exitCode: number = EXIT.OK;
        // One at a time: the others keep serving at full strength while one drains.
        for (const fn of names) {
          try {
            process.stdout.write(describeDeploy(await deployOne(client, fn)) + '\n');
          } catch (err) {
            exitCode = Math.max(exitCode, reportAdminFailure(err));
          }
        }
        process.exitCode = exitCode;
      } catch (err) {
        process.exitCode = reportAdminFailure(err);
      }
    });
}
