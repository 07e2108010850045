/**
 * Compares Warren's topology with what the broker already holds, and creates nothing: a start runs
 * it before declaring (declare.ts), `warren check` runs it alone. Both list the same problems, so a
 * project that check passes is not refused by start for a queue or exchange made with other arguments.
 *
 * What it asks the broker is preflight.ts's: a passive check of each queue and exchange, and for one
 * that exists, a redeclaration with exactly Warren's arguments, which RabbitMQ answers as a no-op when
 * they are equivalent and refuses, changing nothing, when they are not. Nothing that is missing is
 * declared. (Two limits of asking through AMQP rather than reading arguments: a queue deleted by
 * someone else between its passive check and its redeclaration would be declared again, as a start
 * does anyway; and an equivalent redeclaration renews an `x-expires` queue's lease.)
 */
import type { ChannelModel } from 'amqplib';
import type { WarrenConfig } from '../config/types';
import type { WarrenError } from '../errors';
import { connectToAny, type NodeConnection } from '../connection/connect';
import { brokerUnreachable } from '../connection/unreachable';
import type { RascalConfig } from './rascal-config';
import { vhostUrl } from './names';
import { mismatchError } from './mismatch';
import { splitLegacy, type LegacyQueue } from './legacy';
import { planTopology } from './plan';
import { preflight, type PreflightTarget } from './preflight';

export interface Comparison {
  /** what stops a start: one WARREN_E_TOPOLOGY_MISMATCH per difference, in queues.yaml's order */
  refused: WarrenError[];
  /** classic retry and dead-letter queues of an earlier Warren: kept as they are, with a warning */
  legacy: LegacyQueue[];
  /** how many queues and exchanges were compared */
  checked: number;
}

export async function compareTopology(conn: ChannelModel, config: WarrenConfig, rascalConfig: RascalConfig): Promise<Comparison> {
  const targets = preflightTargets(config, rascalConfig);
  const { legacy, mismatches } = splitLegacy(await preflight(conn, targets, config.vhost));
  return { refused: mismatches.map(mismatchError), legacy, checked: targets.length };
}

/** What a start warns about a legacy queue it keeps (and `warren check` says the same). */
export function legacyWarning(q: LegacyQueue): string {
  return `${q.name} is a classic ${q.role === 'retry' ? 'retry' : 'dead-letter'} queue made by an earlier Warren: it lives on one node, so it is kept but not replicated; to migrate: ${q.migrate}`;
}

/** Exactly what rascal will assert in Warren's vhost (user additions from rascal.json included). */
export function preflightTargets(config: WarrenConfig, rascalConfig: RascalConfig): PreflightTarget[] {
  const plan = planTopology(config);
  const vhost = rascalConfig.vhosts[config.vhost];
  if (!vhost) return [];
  const targets: PreflightTarget[] = [];
  for (const [name, x] of Object.entries(vhost.exchanges)) {
    if (x.assert === false || name === '') continue;
    const exchange = plan.exchanges.find((e) => e.name === name);
    targets.push({ kind: 'exchange', name, type: x.type, options: { ...x.options }, ...(exchange ? { exchange } : {}) });
  }
  for (const [name, q] of Object.entries(vhost.queues)) {
    if (q.assert === false) continue;
    const queue = plan.queues.find((p) => p.name === name);
    targets.push({ kind: 'queue', name, options: { ...q.options }, ...(queue ? { queue } : {}) });
  }
  return targets;
}

/** A connection to Warren's vhost on the first node that answers; WARREN_E_BROKER_UNREACHABLE otherwise. */
export async function connectToVhost(config: WarrenConfig, timeout: number, connectionName: string): Promise<NodeConnection> {
  const url = vhostUrl(config.url, config.vhost);
  let found: NodeConnection;
  try {
    found = await connectToAny(url, { timeout, connectionName, startAt: process.pid });
  } catch (err) {
    throw unreachable(config, err);
  }
  found.connection.on('error', () => {
    // A connection error also rejects the pending operation, which reports it.
  });
  return found;
}

export function unreachable(config: WarrenConfig, err: unknown): WarrenError {
  return brokerUnreachable(vhostUrl(config.url, config.vhost), config.vhost, err);
}
