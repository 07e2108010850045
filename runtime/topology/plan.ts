/**
 * Pure: what Warren declares for a validated config, before it is shaped into rascal's format.
 * Each queue and exchange carries its origin, so a broker that disagrees can be answered with the
 * queues.yaml key to change (runtime/topology/mismatch.ts).
 *
 * The queues Warren adds (dead letters, the retry ladder) are quorum queues whatever the main queue's
 * type: a message waiting out its retry delay or sitting in the dead-letter queue must survive the
 * loss of a node, as the function's own quorum queue does. Quorum queues have message TTL since
 * RabbitMQ 3.10, and a retry queue dead-letters back at-least-once (`x-dead-letter-strategy`, which
 * needs `x-overflow: reject-publish`), so an expired message is never dropped on the way back.
 */
import type { ExchangeConfig, ExchangeType, FunctionConfig, QueueConfig, QueueType, SourceLocation, WarrenConfig } from '../config/types';
import { DEFAULTS } from '../config/types';
import { deadQueueName, retryLadder, retryQueueName, scheduleQueueName } from './names';
import { DELIVER, LEVELS, UNDELIVERABLE, UNIT_MS, levelName, levelPattern, nextExchange } from '../delay/ladder';

export type QueueRole = 'main' | 'dead' | 'retry' | 'delay' | 'schedule';

export interface PlannedQueue {
  name: string;
  type: QueueType;
  durable: boolean;
  arguments: Record<string, unknown>;
  role: QueueRole;
  /** the main queue this one serves (itself for a main queue) */
  of: string;
  /** the function consuming the main queue, if any */
  fn?: string;
  /** true when queues.yaml does not declare it (a function's default queue, a shorthand binding target) */
  implicit: boolean;
  at?: SourceLocation;
}

/** An exchange is declared exactly as queues.yaml describes it. */
export type PlannedExchange = ExchangeConfig;

export interface PlannedBinding {
  exchange: string;
  /** the destination: a queue, or an exchange when `toExchange` */
  queue: string;
  toExchange?: boolean;
  routingKey: string;
  arguments: Record<string, unknown>;
}

export interface TopologyPlan {
  exchanges: PlannedExchange[];
  queues: PlannedQueue[];
  bindings: PlannedBinding[];
}

export function planTopology(config: WarrenConfig): TopologyPlan {
  const byQueue = new Map<string, FunctionConfig>();
  for (const fn of Object.values(config.functions)) byQueue.set(fn.queue, fn);

  const mainQueues = new Map<string, QueueConfig>();
  for (const q of Object.values(config.queues)) mainQueues.set(q.name, q);
  // A function's queue or a binding's target that queues.yaml does not declare gets the defaults.
  for (const fn of Object.values(config.functions)) if (!mainQueues.has(fn.queue)) mainQueues.set(fn.queue, implicitQueue(fn.queue));
  for (const b of config.bindings) if (!b.toExchange && !mainQueues.has(b.queue)) mainQueues.set(b.queue, implicitQueue(b.queue));

  const queues: PlannedQueue[] = [];
  for (const q of mainQueues.values()) queues.push(...planQueue(q, byQueue.get(q.name)));

  return {
    exchanges: [
      ...Object.values(config.exchanges).map((x) => ({
        name: x.name,
        type: x.type,
        durable: x.durable,
        autoDelete: x.autoDelete,
        internal: x.internal,
        arguments: { ...x.arguments },
        ...(x.at ? { at: x.at } : {}),
      })),
    ],
    queues,
    bindings: [
      ...config.bindings.map((b) => ({
        exchange: b.exchange,
        queue: b.queue,
        ...(b.toExchange ? { toExchange: true } : {}),
        routingKey: b.routingKey,
        arguments: { ...b.arguments },
      })),
    ],
  };
}

/** The main queue, then its dead queue and retry ladder when a function consumes it. */
export function planQueue(queue: QueueConfig, fn: FunctionConfig | undefined): PlannedQueue[] {
  const common = {
    of: queue.name,
    implicit: queue.implicit,
    ...(fn ? { fn: fn.name } : {}),
    ...((queue.at ?? fn?.at) ? { at: queue.at ?? fn?.at } : {}),
  };
  const planned: PlannedQueue[] = [
    { ...common, name: queue.name, type: queue.type, durable: queue.durable, arguments: mainArguments(queue, fn), role: 'main' },
  ];
  if (!fn) return planned;
  const replicated = replicatedArguments(queue);
  if (fn.deadLetter) {
    planned.push({ ...common, name: deadQueueName(queue.name), type: 'quorum', durable: true, arguments: replicated, role: 'dead' });
  }
  for (const delay of retryLadder(fn.retry)) {
    // Expired messages go back to the main queue through the default exchange.
    planned.push({ ...common, name: retryQueueName(queue.name, delay), ...waitingQueue(delay, '', queue.name, replicated), role: 'retry' });
  }
  if (fn.schedule) {
    planned.push({
      ...common,
      name: scheduleQueueName(queue.name),
      type: 'quorum',
      durable: true,
      // One message, the last tick emitted; the one consumer holding it is the emitter (runtime/schedule/).
      arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true, 'x-max-length': 1, 'x-overflow': 'drop-head' },
      role: 'schedule',
    });
  }
  return planned;
}

/**
 * The quorum queue's own `x-delivery-limit`: a backstop a margin above `redeliveryLimit`, so Warren
 * always decides first and its dead letters carry its headers (function, reason, last death,
 * attempts) instead of the broker's bare `x-death`. With the limit equal to `redeliveryLimit`, the
 * broker dead-letters a message when it is returned for the (limit + 1)th time, before any replica
 * sees the delivery on which Warren would have acted: every dead letter of a message that killed its
 * replicas was the broker's. The margin also covers a replica dying again while it moves a suspect
 * aside (runtime/replica/suspects.ts), before that copy is settled.
 */
export const BROKER_LIMIT_MARGIN = 2;

export function brokerDeliveryLimit(redeliveryLimit: number): number {
  return redeliveryLimit + BROKER_LIMIT_MARGIN;
}

/** A quorum queue replicated like `queue` (same group size when queues.yaml sets one). */
function replicatedArguments(queue: QueueConfig): Record<string, unknown> {
  const args: Record<string, unknown> = { 'x-queue-type': 'quorum' };
  if (queue.replicationFactor !== undefined) args['x-quorum-initial-group-size'] = queue.replicationFactor;
  return args;
}

/**
 * Queues where messages wait out a queue-level TTL and are then dead-lettered on: the retry ladder
 * and the delay ladder. One rule for both, so a change of queue type (or durability) applies to
 * both. Both are quorum queues (see the top of this file); a hop costs about 4 ms on 3.10 (2 ms on a
 * classic queue, which would not survive the loss of its node).
 */
function waitingQueue(
  ttl: number | undefined,
  deadLetterExchange: string,
  deadLetterRoutingKey?: string,
  replicated: Record<string, unknown> = { 'x-queue-type': 'quorum' },
): Pick<PlannedQueue, 'type' | 'durable' | 'arguments'> {
  const args: Record<string, unknown> = { ...replicated };
  if (ttl !== undefined) args['x-message-ttl'] = ttl;
  args['x-dead-letter-exchange'] = deadLetterExchange;
  if (deadLetterRoutingKey !== undefined) args['x-dead-letter-routing-key'] = deadLetterRoutingKey;
  // Dead-lettered on at-least-once: an expired message is never dropped between two queues.
  args['x-dead-letter-strategy'] = 'at-least-once';
  args['x-overflow'] = 'reject-publish';
  return { type: 'quorum', durable: true, arguments: args };
}

/**
 * The delay ladder (runtime/delay/ladder.ts says how a message walks it): per level a topic exchange
 * and a TTL queue that keeps the routing key when it dead-letters, then the deliver exchange and queue
 * the runtime forwards from. Declared for every project (any handler may publish with a delay), apart
 * from the rest of the plan: runtime/delay/declare-ladder.ts says why.
 */
export function planDelayLadder(): { exchanges: PlannedExchange[]; queues: PlannedQueue[]; bindings: PlannedBinding[] } {
  const exchange = (name: string, type: ExchangeType): PlannedExchange => ({ name, type, durable: true, autoDelete: false, internal: false, arguments: {} });
  const internal = (name: string, shape: Pick<PlannedQueue, 'type' | 'durable' | 'arguments'>, role: QueueRole): PlannedQueue => ({
    name,
    ...shape,
    role,
    of: name,
    implicit: true,
  });
  const exchanges: PlannedExchange[] = [];
  const queues: PlannedQueue[] = [];
  const bindings: PlannedBinding[] = [];
  for (let k = LEVELS - 1; k >= 0; k--) {
    const name = levelName(k);
    exchanges.push(exchange(name, 'topic'));
    // No dead-letter routing key: the ladder's routing key travels on to the next level.
    queues.push(internal(name, waitingQueue(2 ** k * UNIT_MS, nextExchange(k)), 'delay'));
    bindings.push({ exchange: name, queue: name, routingKey: levelPattern(k, 1), arguments: {} });
    bindings.push({ exchange: name, queue: nextExchange(k), toExchange: true, routingKey: levelPattern(k, 0), arguments: {} });
  }
  exchanges.push(exchange(DELIVER, 'fanout'));
  // A message the forwarder cannot deliver is rejected into UNDELIVERABLE, where it stays for a person.
  const deliverShape = waitingQueue(undefined, '', UNDELIVERABLE);
  queues.push(internal(DELIVER, deliverShape, 'delay'));
  const { type } = deliverShape;
  queues.push(internal(UNDELIVERABLE, { type, durable: true, arguments: { 'x-queue-type': 'quorum' } }, 'delay'));
  bindings.push({ exchange: DELIVER, queue: DELIVER, routingKey: '', arguments: {} });
  return { exchanges, queues, bindings };
}

/** The setting of queues.yaml each argument mainArguments computes comes from: a function's, or its queue's. */
const FUNCTION_SETTINGS: Readonly<Record<string, string>> = {
  'x-delivery-limit': 'redeliveryLimit',
  'x-dead-letter-exchange': 'deadLetter',
  'x-dead-letter-routing-key': 'deadLetter',
  'x-single-active-consumer': 'ordered',
};
const QUEUE_SETTINGS: Readonly<Record<string, string>> = {
  'x-queue-type': 'type',
  'x-max-length': 'maxLength',
  'x-message-ttl': 'messageTtl',
  'x-quorum-initial-group-size': 'replicationFactor',
};

/** `functions.orders.redeliveryLimit`, `queues.orders.maxLength`: the key that sets `argument` on queue `queue`; undefined when none does. */
export function argumentSetting(argument: string, queue: string, fn: string | undefined): string | undefined {
  const ofFunction = FUNCTION_SETTINGS[argument];
  if (ofFunction && fn !== undefined) return `functions.${fn}.${ofFunction}`;
  const ofQueue = QUEUE_SETTINGS[argument];
  return ofQueue ? `queues.${queue}.${ofQueue}` : undefined;
}

/** User `arguments` fill in; what Warren computes from the typed settings wins (argumentSetting names where each comes from). */
export function mainArguments(queue: QueueConfig, fn: FunctionConfig | undefined): Record<string, unknown> {
  const args: Record<string, unknown> = { ...queue.arguments };
  if (queue.type === 'quorum') {
    args['x-queue-type'] = 'quorum';
    if (fn) args['x-delivery-limit'] = brokerDeliveryLimit(fn.redeliveryLimit);
    if (queue.replicationFactor !== undefined) args['x-quorum-initial-group-size'] = queue.replicationFactor;
  }
  if (queue.maxLength !== undefined) args['x-max-length'] = queue.maxLength;
  if (queue.messageTtl !== undefined) args['x-message-ttl'] = queue.messageTtl;
  if (fn?.deadLetter) {
    args['x-dead-letter-exchange'] = '';
    args['x-dead-letter-routing-key'] = deadQueueName(queue.name);
  }
  if (fn?.ordered) args['x-single-active-consumer'] = true;
  return args;
}

function implicitQueue(name: string): QueueConfig {
  return { name, type: DEFAULTS.queueType, durable: true, arguments: {}, implicit: true };
}
