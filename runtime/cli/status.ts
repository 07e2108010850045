/** `warren status [--json]`: one line per function of the running runtime, read from its admin API. */
import type { Command } from 'commander';
import { EXIT } from '../errors';
import type { RuntimeView } from '../admin/view';
import { DIR_OPTION, checkProjectDir, createAdminClient, reportAdminFailure } from './admin-client';

const COLUMNS = ['FUNCTION', 'VERSION', 'REPLICAS', 'IN-FLIGHT', 'HANDLED', 'FAILED', 'QUEUE', 'DEAD'] as const;

/** Pure: the table `status` prints. REPLICAS is running/desired; `-` is a depth the broker did not give. */
export function renderStatus(view: RuntimeView): string {
  const rows = view.functions.map((f) => [
    f.name,
    f.version ?? '-',
    `${f.replicas.running}/${f.replicas.desired}`,
    String(f.inFlight),
    String(f.handled),
    String(f.failed),
    f.queueDepth === null ? '-' : String(f.queueDepth),
    f.deadLetterQueue === null ? 'off' : f.deadLetterDepth === null ? '-' : String(f.deadLetterDepth),
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)));
  // Names and versions read left-aligned; numbers right-aligned so their digits line up.
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const header = view.ready ? `runtime ${view.state}, ready` : `runtime ${view.state}, not ready${view.blockedBy ? `: ${view.blockedBy}` : ''}`;
  const body = rows.length ? [line(COLUMNS), ...rows.map(line)] : ['(no functions)'];
  return [header, ...body].join('\n') + '\n';
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("each function's version, replicas running/desired, in-flight, handled, failed, queue and dead-letter depth")
    .option('--json', 'print the admin API answer as JSON')
    .option(...DIR_OPTION)
    .action(async (options: { json?: boolean; dir?: string }) => {
      try {
        await checkProjectDir(options.dir);
        const view = await createAdminClient().get<RuntimeView>('/functions');
        process.stdout.write(options.json ? JSON.stringify(view, null, 2) + '\n' : renderStatus(view));
        process.exitCode = EXIT.OK;
      } catch (err) {
        process.exitCode = reportAdminFailure(err);
      }
    });
}
