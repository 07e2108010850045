/** `warren scale FN N`: set a running function's replica count; resolves once the new replicas consume (or the removed ones drained). */
import type { Command } from 'commander';
import { EXIT, WarrenError } from '../errors';
import { MAX_REPLICAS } from '../admin/routes';
import { parseCount } from './common';
import { DIR_OPTION, checkProjectDir, createAdminClient, functionPath, reportAdminFailure } from './admin-client';

export interface ScaleAnswer {
  name: string;
  replicas: { desired: number; running: number };
}

export function registerScale(program: Command): void {
  program
    .command('scale')
    .description('change the number of replicas of a function on the running runtime')
    .argument('<function>', 'function name')
    .argument('<replicas>', 'replica count (0 stops consuming; the queue keeps its messages)')
    .option(...DIR_OPTION)
    .action(async (name: string, replicas: string, options: { dir?: string }) => {
      try {
        await checkProjectDir(options.dir);
        const n = parseCount(replicas, 'replicas', 0);
        if (n > MAX_REPLICAS)
          throw new WarrenError('WARREN_E_USAGE', `replicas must be an integer from 0 to ${MAX_REPLICAS}, got ${n}`, {
            hint: `each replica is a worker thread; for more consumers run more instances (\`warren start --only ${name}\` on other machines)`,
          });
        // Scaling down waits for the removed replicas to finish their in-flight messages.
        const answer = await createAdminClient().post<ScaleAnswer>(functionPath(name, 'scale'), { replicas: n }, { timeoutMs: 10 * 60_000 });
        process.stdout.write(`${answer.name}: ${answer.replicas.running}/${answer.replicas.desired} replicas running\n`);
        if (answer.replicas.running < answer.replicas.desired) {
          process.stderr.write(
            `warren: only ${answer.replicas.running} of ${answer.replicas.desired} replicas of ${answer.name} started; the runtime retries with backoff (see its log)\n`,
          );
          process.exitCode = EXIT.RUNTIME;
        } else {
          process.exitCode = EXIT.OK;
        }
      } catch (err) {
        process.exitCode = reportAdminFailure(err);
      }
    });
}
