/**
 * Pure: validated config -> rascal config. `buildTopology` is what the main process asserts once at
 * start (after the preflight in declare.ts); `buildReplicaConfig` is what each replica connects with:
 * the same names, declared by nobody (assert/check off), plus the function's subscription.
 *
 * The user's rascal.json lies underneath: Warren's exchanges, queues, bindings and publications win on
 * conflicts, the user's options (connection options, channel pools, defaults, ...) fill the rest.
 * Two user options are dropped on purpose: `connections` (Warren connects to the one URL it computed,
 * AMQP_URL winning) and `namespace` (Warren's queue names are fixed: users and tools address them).
 */
import type { WarrenConfig } from '../config/types';
import { WarrenError } from '../errors';
import { BUILTIN_EXCHANGES } from '../config/broker';
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

export interface RascalSubscription {
  vhost: string;
  queue: string;
  prefetch: number;
  contentType: string;
  redeliveries: { limit: number; counter: string };
  retry: { min: number; max: number; factor: number; strategy: 'exponential' };
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
  subscriptions: Record<string, RascalSubscription>;
  [key: string]: unknown;
}

/** Publication names Warren uses (broker.publish(name, ...)). */
export const exchangePublication = (exchange: string): string => `x:${exchange}`;
export const queuePublication = (queue: string): string => `q:${queue}`;
/** The subscription a replica of function `fn` consumes through. */
export const functionSubscription = (fn: string): string => `fn:${fn}`;

/** rascal's own default size of the confirm channel pool */
const CONFIRM_POOL_MIN = 5;

/** Reconnect backoff of a replica's subscription after a channel or connection error. */
export const SUBSCRIPTION_RETRY = Object.freeze({ min: 1_000, max: 60_000, factor: 2, strategy: 'exponential' as const });

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

/**
 * One replica's own broker: every queue and declared exchange (for `output`, retries, dead letters
 * and ctx.publish), none of them asserted or checked (the main process declared them; a replica that
 * redeclared could fight a redeploy), and the subscription `fn:<name>`.
 */
export function buildReplicaConfig(config: WarrenConfig, fnName: string): RascalConfig {
  const fn = config.functions[fnName];
  if (!fn) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `no function named "${fnName}"`, {
      hint: `known functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
    });
  }
  const plan = planTopology(config);
  // Every queue, so ctx.publish('', queue, …) reaches any queue through the default exchange.
  const queues = plan.queues;
  const { vhost: userVhost } = userVhostOf(config);
  const ours: PlainObject = {
    connection: connectionOf(config, userVhost),
    assert: false,
    check: false,
    exchanges: { ...builtinExchanges(config), ...Object.fromEntries(plan.exchanges.map((x) => [x.name, rascalExchange(x, false)])) },
    queues: Object.fromEntries(queues.map((q) => [q.name, rascalQueue(q, false)])),
    bindings: {},
  };
  const topologyKeys = ['connection', 'connections', 'namespace', 'exchanges', 'queues', 'bindings', 'publications', 'subscriptions'];
  // Rascal holds a confirm channel from publish until the broker confirms, and its default pool has 5:
  // ctx.publish, output, retries and dead letters of `prefetch` concurrent messages would queue behind
  // 5 confirms at a time. Sized to the prefetch by default; the user's rascal.json still wins.
  const pools: PlainObject = { publicationChannelPools: { confirmPool: { max: Math.max(CONFIRM_POOL_MIN, fn.prefetch) } } };
  const vhost = mergeDeep(mergeDeep(pools, omit(userVhost, topologyKeys)), ours) as RascalVhost;

  const publications: Record<string, RascalPublication> = {};
  for (const x of plan.exchanges) publications[exchangePublication(x.name)] = { vhost: config.vhost, exchange: x.name, confirm: true };
  for (const x of Object.keys(builtinExchanges(config))) publications[exchangePublication(x)] = { vhost: config.vhost, exchange: x, confirm: true };
  for (const q of queues) publications[queuePublication(q.name)] = { vhost: config.vhost, queue: q.name, confirm: true };

  const subscription: RascalSubscription = {
    vhost: config.vhost,
    queue: fn.queue,
    prefetch: fn.prefetch,
    // Rascal then hands over the raw Buffer; Warren decodes (SPEC §3) so every outcome is its own.
    contentType: 'application/octet-stream',
    // The broker counts redeliveries (quorum delivery limit or headers), not rascal's in-memory counter.
    redeliveries: { limit: Number.MAX_SAFE_INTEGER, counter: 'stub' },
    retry: { ...SUBSCRIPTION_RETRY },
  };
  // The user's own publications/subscriptions/shovels may name queues a replica does not know.
  return mergeDeep(omit(config.rascal, ['vhosts', 'publications', 'subscriptions', 'shovels']), {
    vhosts: { [config.vhost]: vhost },
    publications,
    subscriptions: { [functionSubscription(fn.name)]: subscription },
  }) as RascalConfig;
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
    out[name] = { source: b.exchange, destination: b.queue, destinationType: 'queue', bindingKey: b.routingKey, options: { ...b.arguments } };
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
