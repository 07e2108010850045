/**
 * The connection settings the main thread hands a replica thread: a replica declares nothing (the
 * main thread did, through rascal) and uses no rascal, only these.
 */
import type { WarrenConfig } from '../config/types';
import { WarrenError } from '../errors';
import { isPlainObject } from '../topology/merge';
import { mapUrls } from '../connection/urls';
import { builtinExchanges, connectionOf, userVhostOf } from '../topology/rascal-config';
import { ladderExchanges } from '../delay/ladder';

export interface ReplicaConnection {
  /** the AMQP URL (a cluster: several, comma-separated) with the vhost and heartbeat applied; may hold a password: never log it */
  url: string;
  /** TLS and socket options from rascal.json (`connection.socketOptions`) */
  socketOptions?: Record<string, unknown>;
  /** exchanges the replica may publish to (declared ones and the `amq.*` ones in use) */
  exchanges: string[];
  /** declared exchanges marked `internal`: the broker refuses a publish to them (and closes the channel) */
  internalExchanges: string[];
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
  const exchanges = [...knownExchanges(config), ...ladderExchanges()];
  return { ...amqpConnection(config), exchanges, internalExchanges: internalExchanges(config) };
}

/** Declared exchanges marked `internal`: fed only by exchange-to-exchange bindings, refused to publishers. */
export function internalExchanges(config: Pick<WarrenConfig, 'exchanges'>): string[] {
  return Object.values(config.exchanges)
    .filter((x) => x.internal)
    .map((x) => x.name);
}

/**
 * The URL (vhost and heartbeat applied) and socket options of the amqplib connections Warren opens:
 * the replicas' and the main thread's own (runtime/time/keeper.ts).
 */
export function amqpConnection(config: WarrenConfig): Omit<ReplicaConnection, 'exchanges' | 'internalExchanges'> {
  const { vhost: userVhost } = userVhostOf(config);
  const connection = connectionOf(config, userVhost);
  const options = isPlainObject(connection['options']) ? connection['options'] : {};
  const url = mapUrls(String(connection['url']), (u) => {
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(options['heartbeat'] ?? DEFAULT_HEARTBEAT_S));
  });
  const socketOptions = connection['socketOptions'];
  return isPlainObject(socketOptions) ? { url, socketOptions } : { url };
}

/** Exchanges that exist once the topology is declared: queues.yaml's and the amq.* ones in use. */
export function knownExchanges(config: WarrenConfig): string[] {
  return [...Object.keys(config.exchanges), ...Object.keys(builtinExchanges(config))];
}
