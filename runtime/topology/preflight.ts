/**
 * Checks, without declaring anything, whether the broker already holds a queue or exchange that
 * Warren would declare with other arguments. Each check runs on its own throwaway channel, because a
 * failed check (404 not found, 406 inequivalent) makes the broker close the channel.
 *
 * An existing queue is compared by declaring it again with exactly Warren's arguments: RabbitMQ treats
 * an equivalent redeclaration as a no-op and answers PRECONDITION_FAILED otherwise. Things that do not
 * exist are left alone (rascal declares them once every check passed).
 */
import type { ChannelModel } from 'amqplib';
import { probe } from '../connection/probe';
import { NOT_SET, parseInequivalence, type Inequivalence, type Mismatch } from './mismatch';
import type { PlannedExchange, PlannedQueue } from './plan';

export interface ExchangeTarget {
  kind: 'exchange';
  name: string;
  type: string;
  options: Record<string, unknown>;
  exchange?: PlannedExchange;
}

export interface QueueTarget {
  kind: 'queue';
  name: string;
  options: Record<string, unknown>;
  queue?: PlannedQueue;
}

export type PreflightTarget = ExchangeTarget | QueueTarget;

/** Checks run side by side, each on channels of its own: one at a time, 20 functions took seconds. */
const PARALLEL_CHECKS = 16;

export async function preflight(conn: ChannelModel, targets: readonly PreflightTarget[], vhost: string): Promise<Mismatch[]> {
  const results: Mismatch[][] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      results[i] = await checkOne(conn, targets[i]!, vhost);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_CHECKS, targets.length) }, worker));
  // In the targets' order, so the report reads like queues.yaml.
  return results.flat();
}

async function checkOne(conn: ChannelModel, target: PreflightTarget, vhost: string): Promise<Mismatch[]> {
  const base = {
    kind: target.kind,
    name: target.name,
    vhost,
    ...(target.kind === 'queue' && target.queue ? { queue: target.queue } : {}),
    ...(target.kind === 'exchange' && target.exchange ? { exchange: target.exchange } : {}),
  };
  const none = { argument: '', current: '', wanted: '' };
  let counts: { messageCount?: number; consumerCount?: number } = {};
  if (target.kind === 'queue') {
    const exists = await probe(conn, (ch) => ch.checkQueue(target.name));
    if (!exists.ok) return exists.code === 404 ? [] : [{ ...base, ...none, brokerMessage: exists.message }];
    counts = { messageCount: exists.value.messageCount, consumerCount: exists.value.consumerCount };
  } else {
    const exists = await probe(conn, (ch) => ch.checkExchange(target.name));
    if (!exists.ok) return exists.code === 404 ? [] : [{ ...base, ...none, brokerMessage: exists.message }];
  }
  const found = await differences(conn, target);
  if (typeof found === 'string') return [{ ...base, ...counts, ...none, brokerMessage: found }];
  return collapse(found.map((d) => ({ ...base, ...counts, argument: d.argument, current: d.current, wanted: d.wanted })));
}

/**
 * RabbitMQ names only the first inequivalent argument. To name them all, redeclare again with the
 * broker's value adopted for each argument it named, until the redeclaration passes (still a no-op:
 * it only ever succeeds on a queue/exchange that already exists, equivalent to what was sent).
 * Returns the broker's words when it refuses for another reason.
 */
async function differences(conn: ChannelModel, target: PreflightTarget): Promise<Inequivalence[] | string> {
  const found: Inequivalence[] = [];
  let trial: PreflightTarget = structuredClone(target);
  for (let round = 0; round < 32; round++) {
    const t = trial;
    const result = await probe<unknown>(conn, (ch) => (t.kind === 'queue' ? ch.assertQueue(t.name, t.options) : ch.assertExchange(t.name, t.type, t.options)));
    if (result.ok) break;
    const parsed = parseInequivalence(result.message);
    if (!parsed) return found.length > 0 ? found : result.message;
    if (found.some((f) => f.argument === parsed.argument)) break; // could not adopt the broker's value
    found.push(parsed);
    trial = adopt(trial, parsed);
  }
  return found;
}

/** When the queue type (or exchange type) differs, the other differences are moot: report it alone. */
function collapse(mismatches: Mismatch[]): Mismatch[] {
  const root = mismatches.find((m) => m.argument === 'x-queue-type' || (m.kind === 'exchange' && m.argument === 'type'));
  if (!root || mismatches.length === 1) return mismatches;
  return [{ ...root, alsoDiffers: mismatches.filter((m) => m !== root).map((m) => m.argument) }];
}

const FLAGS: Record<string, string> = { durable: 'durable', auto_delete: 'autoDelete', exclusive: 'exclusive', internal: 'internal' };
const NUMERIC = new Set(['long', 'signedint', 'short', 'byte', 'double', 'float', 'decimal', 'timestamp', 'unsignedbyte', 'unsignedshort', 'unsignedint']);

function adopt(target: PreflightTarget, d: Inequivalence): PreflightTarget {
  const next = structuredClone(target);
  const flag = FLAGS[d.argument];
  if (flag) {
    next.options[flag] = d.current === 'true';
    return next;
  }
  if (next.kind === 'exchange' && d.argument === 'type') {
    next.type = d.current;
    return next;
  }
  const args = { ...((next.options['arguments'] as Record<string, unknown> | undefined) ?? {}) };
  if (d.current === NOT_SET) delete args[d.argument];
  else if (d.currentType === 'bool') args[d.argument] = d.current === 'true';
  else if (d.currentType && NUMERIC.has(d.currentType)) args[d.argument] = Number(d.current);
  else args[d.argument] = d.current;
  next.options['arguments'] = args;
  return next;
}
