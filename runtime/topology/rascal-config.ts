/**
 * Pure: validated config -> rascal config. `buildTopology` is what the main process asserts once at
 * start (after the preflight in declare.ts). Rascal only declares: replicas consume and publish with
 * amqplib itself (runtime/replica/consumer.ts says why), connecting with the settings of
 * runtime/replica-protocol/connection.ts.
 *
 * The user's rascal.json lies underneath: Warren's exchanges, queues and bindings win on
 * conflicts, the user's options (connection options, channel pools, defaults, ...) fill the rest.
 * Two user options are dropped on purpose: `connections` (Warren connects to the one URL it computed,
 * AMQP_URL winning) and `namespace` (Warren's queue names are fixed: users and tools address them).
 */
import type { WarrenConfig } from '../config/types';
import { BUILTIN_EXCHANGES } from '../config/topology-sections';
import { vhostUrl } from './names';
import { isPlainObject, mergeDeep, omit, type PlainObject } from './merge';
import { planTopology, type PlannedBinding, type PlannedExchange, type PlannedQueue } from './plan';

export interface RascalExchange {
  type: string;
  assert: boolean;
  check: boolean;
  options: { durable: boolean; autoDelete: boolean; arguments: Record<string, unknown> };
  [key: string]: unknown;
}

export interface RascalQueue {
  assert: boolean;
  check: boolean;
  options: { durable: boolean; arguments: Record<string, unknown>; [key: string]: unknown };
  [key: string]: unknown;
}

export interface RascalBinding {
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  bindingKey: string;
  options: Record<string, unknown>;
  [key: string]: unknown;
}

export interface RascalVhost {
  connection: { url: string; [key: string]: unknown };
  exchanges: Record<string, RascalExchange>;
  queues: Record<string, RascalQueue>;
  bindings: Record<string, RascalBinding>;
  [key: string]: unknown;
}

export interface RascalConfig {
  vhosts: Record<string, RascalVhost>;
  [key: string]: unknown;
}

/**
 * Channels rascal declares on side by side (its `concurrency`; rascal.json may set its own). One at a
 * time, a quorum queue takes the broker about 15 ms to start: 20 functions' 80 queues took 1.2 s.
 */
export const DECLARE_CONCURRENCY = 8;

export function buildTopology(config: WarrenConfig): RascalConfig {
  const plan = planTopology(config);
  const { key: userKey, vhost: userVhost } = userVhostOf(config);
  const ours: PlainObject = {
    connection: connectionOf(config, userVhost),
    exchanges: { ...builtinExchanges(config), ...Object.fromEntries(plan.exchanges.map((x) => [x.name, rascalExchange(x, true)])) },
    queues: Object.fromEntries(plan.queues.map((q) => [q.name, rascalQueue(q, true)])),
    bindings: rascalBindings(plan.bindings),
  };
  const vhost = mergeDeep({ concurrency: DECLARE_CONCURRENCY }, mergeDeep(omit(userVhost, ['connection', 'connections', 'namespace']), ours)) as RascalVhost;

  const otherVhosts = omit(userVhosts(config), userKey === undefined ? [] : [userKey]);
  // The user's own publications and subscriptions (if any) pass through untouched; Warren adds none.
  return mergeDeep(omit(config.rascal, ['vhosts']), { vhosts: { ...otherVhosts, [config.vhost]: vhost } }) as RascalConfig;
}

/** The connection block of Warren's vhost: the user's options, Warren's URL. */
export function connectionOf(config: WarrenConfig, userVhost: PlainObject): PlainObject {
  const userConnection = isPlainObject(userVhost['connection']) ? omit(userVhost['connection'], ['url']) : {};
  return { ...userConnection, url: vhostUrl(config.url, config.vhost) };
}

/**
 * RabbitMQ's own `amq.*` exchanges that bindings or outputs use: the broker refuses to declare them,
 * so rascal only needs to know they exist.
 */
export function builtinExchanges(config: WarrenConfig): Record<string, RascalExchange> {
  const named = [
    ...config.bindings.flatMap((b) => (b.toExchange ? [b.exchange, b.queue] : [b.exchange])),
    ...Object.values(config.functions).map((fn) => fn.output?.exchange ?? ''),
  ];
  const used = new Set(named.filter((x) => BUILTIN_EXCHANGES[x] && !config.exchanges[x]));
  return Object.fromEntries(
    [...used].map((name) => [
      name,
      { type: BUILTIN_EXCHANGES[name]!, assert: false, check: false, options: { durable: true, autoDelete: false, arguments: {} } },
    ]),
  );
}

function rascalExchange(x: PlannedExchange, assert: boolean): RascalExchange {
  const options = { durable: x.durable, autoDelete: x.autoDelete, ...(x.internal ? { internal: true } : {}), arguments: { ...x.arguments } };
  return { type: x.type, assert, check: false, options };
}

function rascalQueue(q: PlannedQueue, assert: boolean): RascalQueue {
  return { assert, check: false, options: { durable: q.durable, arguments: { ...q.arguments } } };
}

/**
 * Named `ex[key] => queue`: rascal parses names containing `->` as shorthand and would split the key
 * on commas and spaces, so the name avoids that arrow and the key travels in `bindingKey` only.
 */
function rascalBindings(bindings: readonly PlannedBinding[]): Record<string, RascalBinding> {
  const out: Record<string, RascalBinding> = {};
  for (const b of bindings) {
    const base = `${b.exchange}[${b.routingKey}] => ${b.toExchange ? 'exchange ' : ''}${b.queue}`;
    let name = base;
    for (let i = 2; name in out; i++) name = `${base} #${i}`;
    out[name] = {
      source: b.exchange,
      destination: b.queue,
      destinationType: b.toExchange ? 'exchange' : 'queue',
      bindingKey: b.routingKey,
      options: { ...b.arguments },
    };
  }
  return out;
}

function userVhosts(config: WarrenConfig): PlainObject {
  return objectAt(config.rascal, 'vhosts');
}

/** The user's vhost block: the one named like Warren's vhost, or the only one there is. */
export function userVhostOf(config: WarrenConfig): { key: string | undefined; vhost: PlainObject } {
  const vhosts = userVhosts(config);
  const keys = Object.keys(vhosts);
  const key = config.vhost in vhosts ? config.vhost : keys.length === 1 ? keys[0] : undefined;
  const vhost = key === undefined ? undefined : vhosts[key];
  return { key, vhost: isPlainObject(vhost) ? vhost : {} };
}

function objectAt(obj: PlainObject, key: string): PlainObject {
  const value = obj[key];
  return isPlainObject(value) ? value : {};
}
