/**
 * Pure: validated config -> rascal config. `buildTopology` is what the main process asserts once at
 * start (after the preflight in declare.ts); `replicaConnection` is what each replica connects with
 * (replicas consume and publish with amqplib itself: runtime/consumer/consumer.ts says why).
 *
 * The user's rascal.json lies underneath: Warren's exchanges, queues, bindings and publications win on
 * conflicts, the user's options (connection options, channel pools, defaults, ...) fill the rest.
 * Two user options are dropped on purpose: `connections` (Warren connects to the one URL it computed,
 * AMQP_URL winning) and `namespace` (Warren's queue names are fixed: users and tools address them).
 */
import type { WarrenConfig } from '../config/types';
import { WarrenError } from '../errors';
import { BUILTIN_EXCHANGES } from '../config/broker';
import { ladderExchanges } from '../delay/ladder';
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

export interface RascalPublication {
  vhost: string;
  exchange?: string;
  queue?: string;
  confirm: boolean;
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
  publications: Record<string, RascalPublication>;
  subscriptions: Record<string, unknown>;
  [key: string]: unknown;
}

/** Publication names Warren uses (broker.publish(name, ...)). */
export const exchangePublication = (exchange: string): string => `x:${exchange}`;
export const queuePublication = (queue: string): string => `q:${queue}`;

export function buildTopology(config: WarrenConfig): RascalConfig {
  const plan = planTopology(config);
  const { key: userKey, vhost: userVhost } = userVhostOf(config);
  const ours: PlainObject = {
    connection: connectionOf(config, userVhost),
    exchanges: { ...builtinExchanges(config), ...Object.fromEntries(plan.exchanges.map((x) => [x.name, rascalExchange(x, true)])) },
    queues: Object.fromEntries(plan.queues.map((q) => [q.name, rascalQueue(q, true)])),
    bindings: rascalBindings(plan.bindings),
  };
  const vhost = mergeDeep(omit(userVhost, ['connection', 'connections', 'namespace']), ours) as RascalVhost;

  const otherVhosts = omit(userVhosts(config), userKey === undefined ? [] : [userKey]);
  const publications: Record<string, RascalPublication> = {};
  for (const x of plan.exchanges) publications[exchangePublication(x.name)] = { vhost: config.vhost, exchange: x.name, confirm: true };
  for (const q of plan.queues) if (q.fn) publications[queuePublication(q.name)] = { vhost: config.vhost, queue: q.name, confirm: true };

  const user = config.rascal;
  return mergeDeep(omit(user, ['vhosts']), {
    vhosts: { ...otherVhosts, [config.vhost]: vhost },
    publications: mergeDeep(objectAt(user, 'publications'), publications),
    subscriptions: objectAt(user, 'subscriptions'),
  }) as RascalConfig;
}

/** What one replica connects with: it declares nothing (the main process did) and uses no rascal. */
export interface ReplicaConnection {
  /** the AMQP URL with the vhost and heartbeat applied; may hold a password: never log it */
  url: string;
  /** TLS and socket options from rascal.json (`connection.socketOptions`) */
  socketOptions?: Record<string, unknown>;
  /** exchanges the replica may publish to (declared ones and the `amq.*` ones in use) */
  exchanges: string[];
}

/** Heartbeat rascal would use, kept for the replicas' own connections unless rascal.json sets one. */
const DEFAULT_HEARTBEAT_S = 10;

export function replicaConnection(config: WarrenConfig, fnName: string): ReplicaConnection {
  if (!config.functions[fnName]) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named "${fnName}"`, {
      hint: `known functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
    });
  }
  // The delay ladder's: ctx.publish(…, { delay }) enters it at one of them (runtime/delay/ladder.ts).
  const exchanges = [...Object.keys(config.exchanges), ...Object.keys(builtinExchanges(config)), ...ladderExchanges()];
  return { ...amqpConnection(config), exchanges };
}

/** The URL (vhost and heartbeat applied) and socket options of every amqplib connection Warren opens. */
export function amqpConnection(config: WarrenConfig): Omit<ReplicaConnection, 'exchanges'> {
  const { vhost: userVhost } = userVhostOf(config);
  const connection = connectionOf(config, userVhost);
  const url = new URL(String(connection['url']));
  const options = isPlainObject(connection['options']) ? connection['options'] : {};
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(options['heartbeat'] ?? DEFAULT_HEARTBEAT_S));
  const socketOptions = connection['socketOptions'];
  return isPlainObject(socketOptions) ? { url: url.toString(), socketOptions } : { url: url.toString() };
}

/** Exchanges that exist once the topology is declared: queues.yaml's and the amq.* ones in use. */
export function knownExchanges(config: WarrenConfig): string[] {
  return [...Object.keys(config.exchanges), ...Object.keys(builtinExchanges(config))];
}

/** The AMQP URL with its path set to the vhost: rascal takes the vhost from the URL, not the key. */
export function vhostUrl(url: string, vhost: string): string {
  const parsed = new URL(url);
  parsed.pathname = vhost === '/' ? '' : `/${encodeURIComponent(vhost)}`;
  return parsed.toString();
}

function connectionOf(config: WarrenConfig, userVhost: PlainObject): PlainObject {
  const userConnection = isPlainObject(userVhost['connection']) ? omit(userVhost['connection'], ['url']) : {};
  return { ...userConnection, url: vhostUrl(config.url, config.vhost) };
}

/**
 * RabbitMQ's own `amq.*` exchanges that bindings or outputs use: the broker refuses to declare them,
 * so rascal only needs to know they exist.
 */
function builtinExchanges(config: WarrenConfig): Record<string, RascalExchange> {
  const used = new Set<string>();
  for (const b of config.bindings) if (BUILTIN_EXCHANGES[b.exchange] && !config.exchanges[b.exchange]) used.add(b.exchange);
  for (const fn of Object.values(config.functions)) {
    const x = fn.output?.exchange;
    if (x && BUILTIN_EXCHANGES[x] && !config.exchanges[x]) used.add(x);
  }
  return Object.fromEntries([...used].map((name) => [name, { type: BUILTIN_EXCHANGES[name]!, assert: false, check: false, options: { durable: true, autoDelete: false, arguments: {} } }]));
}

function rascalExchange(x: PlannedExchange, assert: boolean): RascalExchange {
  return { type: x.type, assert, check: false, options: { durable: x.durable, autoDelete: x.autoDelete, arguments: { ...x.arguments } } };
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
    const base = `${b.exchange}[${b.routingKey}] => ${b.queue}`;
    let name = base;
    for (let i = 2; name in out; i++) name = `${base} #${i}`;
    out[name] = { source: b.exchange, destination: b.queue, destinationType: b.toExchange ? 'exchange' : 'queue', bindingKey: b.routingKey, options: { ...b.arguments } };
  }
  return out;
}

function userVhosts(config: WarrenConfig): PlainObject {
  return objectAt(config.rascal, 'vhosts');
}

/** The user's vhost block: the one named like Warren's vhost, or the only one there is. */
function userVhostOf(config: WarrenConfig): { key: string | undefined; vhost: PlainObject } {
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
