/**
 * `warren deploy FN` / `warren deploy --all`: the running runtime rebuilds the handler file, starts the
 * new version's replicas, then drains the old ones. A build that fails, or a handler that does not
 * load, keeps the old version serving and prints the file and line (exit 2). `deploy FN` of a file
 * added since the runtime started starts it; `--all` reads the whole project again, as `--watch` does:
 * new files start, deleted ones stop, changed settings and code are redeployed.
 */
import type { Command } from 'commander';
import { ERRORS, EXIT, WarrenError, isErrorCode } from '../errors';
import { DIR_OPTION, checkProjectDir, createAdminClient, functionPath, reportAdminFailure, type AdminClient } from './admin-client';
import { reportFailure } from './common';

export interface DeployAnswer {
  name: string;
  /** the version before; null when it did not run */
  from: string | null;
  /** the version now; null when it no longer runs */
  version: string | null;
  changed: boolean;
  /** what went wrong beside the deploy, which still happened (the topology could not be declared again) */
  problems?: DeployProblem[];
}

export interface DeployProblem {
  error: string;
  code: string;
  hint?: string;
  /** a config that does not load: each of its problems, with its own code and hint */
  problems?: DeployProblem[];
}

/** `POST /deploy`: every function the reload touched or left alone, and what kept a change out. */
export interface DeployAllAnswer {
  functions: DeployAnswer[];
  problems: DeployProblem[];
}

/** A redeploy drains the old replicas, which may take up to the function's timeout. */
const DEPLOY_TIMEOUT_MS = 15 * 60_000;

export async function deployOne(client: AdminClient, name: string): Promise<DeployAnswer> {
  return client.post<DeployAnswer>(functionPath(name, 'deploy'), {}, { timeoutMs: DEPLOY_TIMEOUT_MS });
}

export function describeDeploy({ name, from, version, changed }: DeployAnswer): string {
  if (version === null) return `${name}: stopped, no longer in the project (its queue and messages stay)`;
  if (from === null) return `${name}: started ${version}`;
  if (!changed) return `${name}: unchanged (${version})`;
  return from === version ? `${name}: redeployed ${version} with its new settings` : `${name}: deployed ${version} (was ${from})`;
}

/** Prints what `POST /deploy` did; the exit code is the worst of its problems'. */
function reportDeployAll(answer: DeployAllAnswer): number {
  for (const fn of answer.functions) process.stdout.write(describeDeploy(fn) + '\n');
  return reportProblems(answer.problems);
}

/** Prints what `POST /functions/FN/deploy` did; a deploy that happened with a problem beside it exits with the problem's code. */
function reportDeployOne(answer: DeployAnswer): number {
  process.stdout.write(describeDeploy(answer) + '\n');
  return reportProblems(answer.problems ?? []);
}

function reportProblems(problems: readonly DeployProblem[]): number {
  let exitCode: number = EXIT.OK;
  const exitOf = (code: string) => (isErrorCode(code) ? ERRORS[code].exit : EXIT.RUNTIME);
  for (const p of problems) {
    // A config that does not load lists each problem as `warren check` does: its place, code and hint.
    if (p.problems && p.problems.length > 1) {
      process.stderr.write(`warren: ${p.problems.length} problems:\n`);
      for (const q of p.problems) {
        process.stderr.write(`  ${q.error} [${q.code}]` + (q.hint ? `\n    hint: ${q.hint}` : '') + '\n');
        exitCode = Math.max(exitCode, exitOf(q.code));
      }
      continue;
    }
    const one = p.problems?.[0] ?? p;
    process.stderr.write(`warren: ${one.error} [${one.code}]` + (one.hint ? `\n  hint: ${one.hint}` : '') + '\n');
    exitCode = Math.max(exitCode, exitOf(one.code));
  }
  return exitCode;
}

export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('rebuild a function and redeploy it on the running runtime without losing a message')
    .argument('[function]', 'function name')
    .option('--all', 'read the whole project again: start new files, stop deleted ones, redeploy what changed')
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
        if (name) {
          process.exitCode = reportDeployOne(await deployOne(client, name));
        } else {
          process.exitCode = reportDeployAll(await client.post<DeployAllAnswer>('/deploy', {}, { timeoutMs: DEPLOY_TIMEOUT_MS }));
        }
      } catch (err) {
        process.exitCode = reportAdminFailure(err);
      }
    });
}
