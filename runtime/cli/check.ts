/**
 * `warren check`: validate the config, build every handler and, when a broker answers, compare the
 * queues and exchanges it already holds with Warren's, as a start does before declaring; exit 0, or 2
 * with every problem listed.
 */
import type { ChannelModel } from 'amqplib';
import type { Command } from 'commander';
import { projectDir, reportFailure } from './common';
import { readProject } from '../config';
import { DEFAULTS, type FunctionConfig, type WarrenConfig } from '../config/types';
import { effectiveBatch, effectivePrefetch } from '../config/prefetch';
import { runningNodes } from '../connection/cluster-size';
import { unusableNodes, unusableNodeWarning } from '../connection/list-check';
import { splitUrls } from '../connection/urls';
import { amqpConnection } from '../replica-protocol/connection';
import { buildEach } from '../functions/build-each';
import { WarrenErrors, EXIT, redactUrl, type WarrenError } from '../errors';
import { buildTopology } from '../topology/rascal-config';
import { compareTopology, connectToVhost, legacyWarning } from '../topology/compare';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';

export async function checkCommand(dir: string, env: Record<string, string | undefined>): Promise<number> {
  const { project, errors: configErrors, handlers, warnings } = await readProject({ dir, env });
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  const outDir = await mkdtemp(join(tmpdir(), 'warren-check-'));
  try {
    // The broker is asked while the handlers build. Every handler file that exists is built even when
    // the config has problems: one list of everything.
    const comparing = project ? compareWithBroker(project.config) : undefined;
    const nodes = project ? checkNodes(project.config) : undefined;
    // Said, not passed over: a fixed typo would otherwise reveal a queue the broker refuses only at the next check.
    const configFile = (e: WarrenError) => ['queues.yaml', 'rascal.json'].includes(basename(e.details.file ?? ''));
    if (!project && configErrors.some(configFile)) {
      const files = [...new Set(configErrors.filter(configFile).map((e) => basename(e.details.file!)))].join(' and ');
      process.stderr.write(
        `warning: did not compare with the broker's queues and exchanges: ${files} ${files.includes(' and ') ? 'have' : 'has'} problems (below); check compares once they are fixed\n`,
      );
    }
    const { errors: buildErrors } = await buildEach(handlers, outDir);
    const compared = await comparing;
    for (const warning of compared?.warnings ?? []) process.stderr.write(`warning: ${warning}\n`);
    for (const warning of (await nodes) ?? []) process.stderr.write(`warning: ${warning}\n`);
    const errors = [...configErrors, ...buildErrors, ...(compared?.refused ?? [])];
    if (!project || errors.length > 0) throw new WarrenErrors(errors);
    const { config } = project;
    const fns = Object.values(config.functions);
    const counts = [
      counted(fns.length, 'function'),
      counted(Object.keys(config.queues).length, 'queue'),
      counted(Object.keys(config.exchanges).length, 'exchange'),
      counted(config.bindings.length, 'binding'),
    ];
    process.stdout.write(`ok: ${counts.join(', ')}\n`);
    if (fns.length === 0)
      process.stderr.write(`warning: no functions: \`warren start\` would declare the topology and run nothing; add a handler such as functions/hello.ts\n`);
    for (const fn of fns) {
      process.stdout.write(
        `  ${fn.name}: queue ${fn.queue}, replicas ${fn.replicas}, ${describePrefetch(fn)}${describeBatch(fn)}, attempts ${fn.retry.attempts}${fn.output ? `, output ${fn.output.exchange}/${fn.output.routingKey}` : ''}\n`,
      );
    }
    for (const warning of await replicationWarnings(config, env)) process.stderr.write(`warning: ${warning}\n`);
    return EXIT.OK;
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
}

/** How long check waits for a broker to answer before it says it did not compare (a start waits as long). */
const BROKER_TIMEOUT_MS = 5_000;

/**
 * The comparison a start makes before it declares anything (runtime/topology/compare.ts), so a
 * project check passes is not refused by start for a queue that exists with other arguments. It
 * creates and changes nothing: queues and exchanges that do not exist yet are left to start. Without
 * a broker (or with one that refuses the connection) check still works: one warning says why it did
 * not compare.
 */
async function compareWithBroker(config: WarrenConfig): Promise<{ refused: WarrenError[]; warnings: string[] }> {
  let conn: ChannelModel | undefined;
  try {
    conn = (await connectToVhost(config, BROKER_TIMEOUT_MS, 'warren check')).connection;
    const { refused, legacy } = await compareTopology(conn, config, buildTopology(config));
    return { refused, warnings: legacy.map(legacyWarning) };
  } catch (err) {
    const reason = redactUrl(String((err as { message?: unknown })?.message ?? err)).replace(/\s+/g, ' ');
    return { refused: [], warnings: [`skipped comparing with the broker's queues and exchanges: ${reason}`] };
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

/** A URL list's entries that take no connection (./connection/list-check.ts). */
async function checkNodes(config: WarrenConfig): Promise<string[]> {
  const { url, socketOptions } = amqpConnection(config);
  const unusable = await unusableNodes(url, { timeoutMs: BROKER_TIMEOUT_MS, ...(socketOptions ? { socketOptions } : {}) });
  return unusable.map((n) => unusableNodeWarning(n, splitUrls(url).length));
}

function counted(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The prefetch a replica really uses (what `start` applies), with why it differs from queues.yaml's. */
export function describePrefetch(fn: FunctionConfig): string {
  const { prefetch, changes } = effectivePrefetch(fn);
  if (changes.length === 0) return `prefetch ${prefetch}`;
  // A prefetch left out reads as the default, not as something the user wrote.
  const from = fn.prefetch === DEFAULTS.prefetch ? `default ${fn.prefetch}` : `configured ${fn.prefetch}`;
  return `prefetch ${prefetch} (${from}; ${changes.join('; ')})`;
}

/** `, batch N` for a batch function: the size a replica really fills, with why it differs from queues.yaml's. */
function describeBatch(fn: FunctionConfig): string {
  const { batch, changes } = effectiveBatch(fn);
  if (!batch) return '';
  return changes.length === 0 ? `, batch ${batch.size}` : `, batch ${batch.size} (configured ${fn.batch!.size}; ${changes.join('; ')})`;
}

/** Queues asking for more copies than the cluster has nodes (a warning: the broker makes fewer). */
async function replicationWarnings(config: WarrenConfig, env: Record<string, string | undefined>): Promise<string[]> {
  const asking = Object.values(config.queues).filter((q) => q.replicationFactor !== undefined && q.replicationFactor > 1);
  if (asking.length === 0) return [];
  const nodes = await runningNodes(config.url, env);
  if (nodes === null) {
    return [
      `could not count the cluster's nodes (no management API answered; set RABBITMQ_MANAGEMENT_URL) to check replicationFactor of ${asking.map((q) => q.name).join(', ')}`,
    ];
  }
  return asking
    .filter((q) => q.replicationFactor! > nodes)
    .map(
      (q) =>
        `queue ${q.name} asks for replicationFactor ${q.replicationFactor}, but the cluster runs ${nodes} node${nodes === 1 ? '' : 's'}: ` +
        `RabbitMQ makes ${nodes} cop${nodes === 1 ? 'y' : 'ies'}, and does not add more when nodes join (\`rabbitmq-queues grow\` does)`,
    );
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description(
      'validate queues.yaml and rascal.json, build every handler and compare with the queues and exchanges the broker already holds; exit 2 listing every problem',
    )
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json, functions/)')
    .action(async (options: { dir?: string }) => {
      const dir = projectDir(options);
      try {
        process.exitCode = await checkCommand(dir, process.env);
      } catch (err) {
        process.exitCode = reportFailure(err, dir);
      }
    });
}
