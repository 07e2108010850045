/**
 * `GET /topology`: what the dashboard draws, exchanges → bindings → queues → functions. Pure: from
 * the validated config. A function's queue is also reachable through the default exchange (routing
 * key = queue name); that edge is implied, not listed.
 */
import type { WarrenConfig } from '../config/types';
import { deadQueueName } from '../topology/names';
import { builtinExchanges } from '../topology/rascal-config';

export interface TopologyView {
  exchanges: Array<{ name: string; type: string; internal?: boolean }>;
  queues: Array<{ name: string; type: string; deadLetterQueue: string | null }>;
  /** `queue` is an exchange's name when `toExchange` (an exchange-to-exchange binding) */
  /** `arguments`: a headers binding's match (x-match and the headers), without which it would read as "everything" */
  bindings: Array<{ exchange: string; queue: string; toExchange: boolean; routingKey: string; arguments?: Record<string, unknown> }>;
  functions: Array<{ name: string; queue: string; output: { exchange: string; routingKey: string } | null }>;
}

export function describeTopology(config: WarrenConfig | undefined): TopologyView {
  if (!config) return { exchanges: [], queues: [], bindings: [], functions: [] };
  const functions = Object.values(config.functions);
  const deadOf = (queue: string) => (functions.some((f) => f.queue === queue && f.deadLetter) ? deadQueueName(queue) : null);
  return {
    // RabbitMQ's own amq.* exchanges that bindings or outputs use are drawn too
    exchanges: [
      ...Object.values(config.exchanges).map((e) => ({ name: e.name, type: e.type, ...(e.internal ? { internal: true } : {}) })),
      ...Object.entries(builtinExchanges(config)).map(([name, e]) => ({ name, type: e.type })),
    ],
    queues: Object.values(config.queues).map((q) => ({ name: q.name, type: q.type, deadLetterQueue: deadOf(q.name) })),
    bindings: config.bindings.map((b) => ({
      exchange: b.exchange,
      queue: b.queue,
      toExchange: b.toExchange === true,
      routingKey: b.routingKey,
      ...(Object.keys(b.arguments ?? {}).length > 0 ? { arguments: b.arguments } : {}),
    })),
    functions: functions.map((f) => ({
      name: f.name,
      queue: f.queue,
      output: f.output ? { exchange: f.output.exchange, routingKey: f.output.routingKey } : null,
    })),
  };
}
