/** `warren status [--json]`: one line per function of the running runtime, read from its admin API. */
import type { Command } from 'commander';
import { EXIT } from '../errors';
import type { FunctionView, RuntimeView } from '../admin/view';
import { DIR_OPTION, checkProjectDir, createAdminClient, reportAdminFailure } from './admin-client';
import { firstLine } from '../lib/first-line';

const COLUMNS = ['FUNCTION', 'VERSION', 'REPLICAS', 'IN-FLIGHT', 'HANDLED', 'FAILED', 'QUEUE', 'RETRYING', 'DEAD'] as const;

/**
 * Pure: the table `status` prints. REPLICAS is consuming/desired (a replica reconnecting, to the same
 * broker or another node of a cluster, does not count); `-` is a depth the broker did not give.
 */
export function renderStatus(view: RuntimeView): string {
  const rows = view.functions.map((f) => [
    f.name,
    f.version ?? '-',
    `${f.replicas.connected ?? f.replicas.running}/${f.replicas.desired}`,
    String(f.inFlight),
    String(f.handled),
    String(f.failed),
    f.queueDepth === null ? '-' : String(f.queueDepth),
    // waiting out a retry's backoff (or aside, after a replica died): not handled yet, though not in QUEUE
    f.retryDepth === null ? '-' : String(f.retryDepth),
    f.deadLetterQueue === null ? 'off' : f.deadLetterDepth === null ? '-' : String(f.deadLetterDepth),
  ]);
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)));
  // Names and versions read left-aligned; numbers right-aligned so their digits line up.
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const why = view.blockedBy ?? shortOfReplicas(view.functions);
  const header = view.ready ? `runtime ${view.state}, ready` : `runtime ${view.state}, not ready${why ? `: ${why}` : ''}`;
  const body = rows.length ? [line(COLUMNS), ...rows.map(line)] : ['(no functions)'];
  const warnings = (view.warnings ?? []).map((w) => `warning: ${w.split('\n').join('\n  ')}`);
  return [header, ...body, ...renderSchedules(view), ...renderDelayed(view), ...warnings].join('\n') + '\n';
}

/** the longest cause `status` prints in its first line (an error's message can be long) */
const CAUSE_MAX = 200;

/**
 * Why functions are short of replicas: as /readyz says it (runtime/admin/view.ts), the error that keeps
 * one from starting (a handler that throws while loading) when there is one, else that it is starting
 * or reconnecting to the broker. Null when every function consumes with every replica.
 */
function shortOfReplicas(functions: RuntimeView['functions']): string | null {
  const short = functions.filter((f) => (f.replicas.connected ?? f.replicas.running) < f.replicas.desired);
  // A replica reconnecting is no error of the function's, whatever its last error was.
  const reconnecting = (f: FunctionView) => f.replicas.running > (f.replicas.connected ?? f.replicas.running);
  const failing = short.filter((f) => f.lastError !== null && !reconnecting(f));
  // A reconnect that a person must unblock (a vhost deleted, a login refused) says what to fix, as /readyz does.
  const blocked = short.filter((f) => reconnecting(f) && f.reconnectProblem);
  const others = short.filter((f) => !failing.includes(f) && !blocked.includes(f)).map((f) => f.name);
  const count = (f: FunctionView) => `${f.name} ${f.replicas.connected ?? f.replicas.running}/${f.replicas.desired}`;
  const causes = [
    ...failing.map((f) => `${count(f)}: ${firstLine(f.lastError!, CAUSE_MAX)}`),
    ...blocked.map((f) => `${count(f)} reconnecting: ${firstLine(f.reconnectProblem!, CAUSE_MAX)}`),
  ];
  if (others.length) causes.push(`${others.join(', ')} not consuming with every replica (starting, or reconnecting to the broker)`);
  return causes.length ? causes.join('; ') : null;
}

/** One line per scheduled function: its cron, the next tick, and the last tick's outcome here. */
function renderSchedules(view: RuntimeView): string[] {
  const scheduled = view.functions.filter((f) => f.schedule);
  if (scheduled.length === 0) return [];
  const width = Math.max(...scheduled.map((f) => f.name.length));
  return [
    '',
    'SCHEDULES',
    ...scheduled.map((f) => {
      const s = f.schedule!;
      const last = s.lastRun ? `last ${s.lastRun.scheduledAt} ${s.lastRun.outcome}` : s.lastTick ? `last ${s.lastTick} emitted` : 'last -';
      return `${f.name.padEnd(width)}  "${s.schedule}" ${s.timezone}  next ${s.next ?? '-'}  ${last}${s.emitting ? '  (emitting here)' : ''}`;
    }),
  ];
}

/** Delayed messages in the delay ladder, when there are any: waiting for their time, and those nothing took when due. */
function renderDelayed({ delayed }: RuntimeView): string[] {
  if (!delayed || (!delayed.waiting && !delayed.undeliverable)) return [];
  const lines = ['', 'DELAYED'];
  if (delayed.waiting) lines.push(`${delayed.waiting} waiting for their time in the delay ladder`);
  if (delayed.undeliverable)
    lines.push(
      `${delayed.undeliverable} undeliverable in warren.delay.undeliverable: their exchange or queue was gone when due; move them back once the route exists`,
    );
  return lines;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      "each function's version, replicas running/desired, in-flight, handled, failed, queue, retry-queue and dead-letter depth; schedules' next and last tick; delayed messages",
    )
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
