/** Messages between the supervisor (main thread) and one replica thread. */
import type { FunctionConfig, QueueType } from '../config/types';
import type { ReplicaConnection } from './connection';
import type { PrettyLogs } from '../log';
import type { RecentFailure } from '../admin/wire-types';

export interface ReplicaInit {
  fn: FunctionConfig;
  queueType: QueueType;
  connection: ReplicaConnection;
  bundleFile: string;
  version: string;
  replica: number;
  stats: SharedArrayBuffer;
  /** the function's rateLimit state, shared by all its replicas (runtime/ratelimit/shared-rate.ts) */
  rateLimit?: SharedArrayBuffer;
  /** which of the function's replicas run suspects apart now, shared by them (./isolation-slots.ts) */
  isolation?: SharedArrayBuffer;
  /** which node of a cluster each of the function's replicas consumes from, shared by them (./placement.ts) */
  placement?: SharedArrayBuffer;
  logLevel: string;
  pretty: PrettyLogs;
  /** why this function's last replica died, if one did: messages it held carry it (x-warren-last-death) */
  lastDeath?: string;
  /**
   * Boot (thread, bundle, processor), then wait for `consume` before connecting: a runtime's first
   * replicas boot while the topology is still being declared.
   */
  held?: boolean;
  /** keys of messages cleared of suspicion: another replica held them when it lost its connection (./cleared-keys.ts) */
  cleared?: string[];
  /** Date.now() until which a message handed back for the first time is not a suspect: a replica lost its connection (./loss-grace.ts) */
  graceUntil?: number;
  /** deliveries forgiven: a replica died holding these suspects unstarted, a key once per death (./forgiven.ts) */
  forgiven?: string[];
  /** this replica replaces one that died: suspects handed back until `until` are forgiven, but for `guilty` (./forgiven.ts `AfterDeath`) */
  afterDeath?: { until: number; guilty: string[] };
}

export type ToReplica =
  /** a held replica (ReplicaInit.held): the topology is declared, connect and consume */
  | { type: 'consume' }
  /** stop consuming, finish in-flight work for up to graceMs, requeue the rest, close, exit */
  | { type: 'drain'; graceMs: number }
  /** another replica of this function died: the messages it held come back carrying this reason */
  | { type: 'death'; reason: string }
  /** another replica of this function lost its connection holding these messages: not suspects (./cleared-keys.ts) */
  | { type: 'cleared'; keys: string[] }
  /** another replica of this function lost its connection: first returns are not suspects until then (./loss-grace.ts) */
  | { type: 'grace'; until: number }
  /** a replica of this function died holding these suspects unstarted: one delivery of each is forgiven (./forgiven.ts) */
  | { type: 'forgiven'; keys: string[] }
  /** another replica counted one forgiven delivery of this message fewer: forget it (./forgiven.ts) */
  | { type: 'forgave'; key: string }
  /** a message with a count runs in another replica of this function: never forgive it a return (./forgiven.ts `AfterDeath`) */
  | { type: 'suspect-runs'; key: string };

export type FromReplica =
  /** its handler loaded, about to subscribe: deliveries may arrive before `ready`, so a blocked loop is a hang from now on */
  | { type: 'subscribing' }
  /** consuming, on `node` (`host:port` of the broker node, no credentials) */
  | { type: 'ready'; node: string | null }
  | { type: 'stuck'; reason: string }
  /** heap plus buffers passed the function's `memory`: end this thread (its messages count a delivery) */
  | { type: 'memory'; reason: string }
  /** the replica's connection dropped (up: false) or came back and resubscribed (up: true) */
  | { type: 'connection'; up: boolean; node: string | null }
  /** a reconnect failed; `problem`: what a person must fix, in their words (a vhost deleted, credentials changed), null for a node that is only down */
  | { type: 'reconnect-failed'; problem: string | null }
  /** this replica lost its connection holding these messages: tell the function's other replicas (./cleared-keys.ts) */
  | { type: 'cleared'; keys: string[] }
  /** its queue is not on the broker (deleted while the runtime ran): declare the topology again */
  | { type: 'queue-missing' }
  /** a publish was refused: this exchange, declared in queues.yaml, is not on the broker: declare the topology again */
  | { type: 'exchange-missing'; exchange: string }
  /** the replica could not start; a WarrenError (a handler that does not load) keeps its code, file, line and hint */
  | { type: 'fatal'; message: string; code?: string; details?: { file?: string; line?: number; column?: number; hint?: string } }
  | { type: 'drained'; requeued: number }
  /** a scheduled function's tick was settled */
  | { type: 'tick'; scheduledAt: string; outcome: string }
  /** an attempt failed (the dashboard's recent failures; a replica sends a few a second at most) */
  | { type: 'failure'; failure: RecentFailure }
  /**
   * the suspects this replica holds and has not started (it replaces the last list; [] once they
   * start), waiting in its `group`th group: forgiven if it dies before ReplicaStats says that group started (./forgiven.ts)
   */
  | { type: 'unstarted'; keys: string[]; group: number }
  /** this replica counted one forgiven delivery of this message fewer (./forgiven.ts) */
  | { type: 'forgave'; key: string }
  /** the messages this replica is moving aside now (it replaces the last list): forgiven if it dies meanwhile (./forgiven.ts) */
  | { type: 'moving'; keys: string[] }
  /** a message with a count runs here: if this replica dies, it may be why (./forgiven.ts `AfterDeath`) */
  | { type: 'suspect-runs'; key: string };
