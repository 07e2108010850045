/**
 * Declares Warren's topology on the broker, all or nothing: a preflight first compares every queue
 * and exchange that already exists with what Warren would declare, and reports every difference at
 * once (WARREN_E_TOPOLOGY_MISMATCH) before anything is created. Only a clean preflight lets rascal
 * assert the whole topology from buildTopology.
 *
 * Returns nothing: the rascal broker used to declare is shut down again. The main process keeps no
 * broker of its own; each replica connects with replicaConnection and declares nothing.
 * Every connection opened here is closed on every path.
 */
import type rascalModule from 'rascal';
import type { BrokerAsPromised } from 'rascal';
import type { Logger } from 'pino';
import type { WarrenConfig } from '../config/types';
import { WarrenError, WarrenErrors } from '../errors';
import { buildTopology, type RascalConfig } from './rascal-config';
import { compareTopology, connectToVhost, legacyWarning, unreachable } from './compare';
import { declareDelayLadder } from '../delay/declare-ladder';

export { unreachable } from './compare';

export interface DeclareOptions {
  log: Logger;
  /** socket connect timeout of the preflight connection, ms (default 5000) */
  connectTimeoutMs?: number;
  /**
   * what must succeed before anything is declared (a start's handler builds): the connection and the
   * preflight, which declare nothing, go on meanwhile; its rejection declares nothing and is thrown
   */
  after?: Promise<unknown>;
}

export async function declareTopology(config: WarrenConfig, opts: DeclareOptions): Promise<void> {
  const log = opts.log.child({ stage: 'topology' });
  const rascalConfig = buildTopology(config);

  // rascal loads (in the main thread) while the broker answers the preflight.
  const rascal = loadRascal();
  const { connection: conn, url, node } = await connectToVhost(config, opts.connectTimeoutMs ?? 5_000, 'warren topology preflight');
  try {
    const { refused, legacy, checked } = await compareTopology(conn, config, rascalConfig);
    if (refused.length > 0) throw new WarrenErrors(refused);
    for (const q of legacy) {
      // Kept as it is: rascal must not redeclare it with the quorum arguments (the broker would refuse).
      const declared = rascalConfig.vhosts[config.vhost]?.queues[q.name];
      if (declared) declared.assert = false;
      log.warn({ queue: q.name, function: q.fn, serves: q.of }, legacyWarning(q));
    }
    log.debug({ checked, node }, 'topology preflight clean');
    await opts.after;
    const loaded = await rascal;
    // Side by side: the broker starts each quorum queue in a process of its own. rascal declares
    // through the node that just answered (a cluster's list may name nodes that are down).
    const results = await Promise.allSettled([declareDelayLadder(conn), assertWithRascal(loaded, onNode(rascalConfig, config.vhost, url), config)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  } finally {
    await conn.close().catch(() => undefined);
  }
  const vhost = rascalConfig.vhosts[config.vhost];
  log.info(
    {
      vhost: config.vhost,
      exchanges: Object.keys(vhost?.exchanges ?? {}).length,
      queues: Object.keys(vhost?.queues ?? {}).length,
      bindings: Object.keys(vhost?.bindings ?? {}).length,
    },
    'topology declared',
  );
}

/** rascal's connection attempt, bounded like the preflight's unless rascal.json sets a socket timeout */
const RASCAL_CONNECT_TIMEOUT_MS = 10_000;

function onNode(rascalConfig: RascalConfig, vhost: string, url: string): RascalConfig {
  const own = rascalConfig.vhosts[vhost];
  if (!own) return rascalConfig;
  // rascal connects with no timeout of its own: a broker that accepts no more connections (out of
  // file descriptors, a node shutting down) held a start for as long as the kernel kept trying.
  const socketOptions = { timeout: RASCAL_CONNECT_TIMEOUT_MS, ...(own.connection['socketOptions'] as object | undefined) };
  return { ...rascalConfig, vhosts: { ...rascalConfig.vhosts, [vhost]: { ...own, connection: { ...own.connection, url, socketOptions } } } };
}

type Rascal = typeof rascalModule;

/**
 * Imported here, not at the top: only `start` declares, and rascal takes about a tenth of a second to
 * load (bundled: runtime/build.mjs), which every other command would pay. A failed load is thrown
 * where it is used.
 */
function loadRascal(): Promise<Rascal> {
  const loading = import('rascal').then((m) => m.default);
  loading.catch(() => undefined);
  return loading;
}

/**
 * The broker refused a declaration the preflight did not foresee. An `inequivalent arg` refusal is
 * about something that exists already, which the preflight compared and found as Warren wants it:
 * another process changed it meanwhile. Anything else is the broker refusing what queues.yaml (or
 * rascal.json) asks for, in its own words: an argument value it does not take.
 */
export function refusal(text: string, cause: unknown): WarrenError {
  const operation = /Operation failed: (\w+)/.exec(text)?.[1];
  const said = /with message "(?:PRECONDITION_FAILED - )?(.*)"/.exec(text)?.[1] ?? text;
  if (/inequivalent arg/.test(said))
    return new WarrenError('WARREN_E_TOPOLOGY_MISMATCH', `declaring the topology failed: ${said}`, {
      hint: 'another process changed a queue or exchange during start; run `npx warren check` and start again',
      cause,
    });
  const what =
    operation === 'QueueBind' || operation === 'ExchangeBind'
      ? { thing: 'a binding', fix: "the binding's `arguments:`" }
      : operation === 'ExchangeDeclare'
        ? { thing: 'an exchange', fix: "the exchange's `arguments:`" }
        : { thing: 'a queue', fix: "the queue's `arguments:`" };
  return new WarrenError('WARREN_E_CONFIG_CONFLICT', `the broker refuses ${what.thing} of queues.yaml or rascal.json: ${said}`, {
    hint: `fix ${what.fix} as the broker says (queues.yaml, or rascal.json's additions), then \`npx warren check\` and start again; what was declared before the refusal stays and is reused`,
    cause,
  });
}

async function assertWithRascal(rascal: Rascal, rascalConfig: RascalConfig, config: WarrenConfig): Promise<void> {
  let broker: BrokerAsPromised;
  try {
    broker = await rascal.BrokerAsPromised.create(rascalConfig);
  } catch (err) {
    // Rascal may hand back a half-initialised broker on the error; close its connections too.
    const e = err as { broker?: symbol } & Record<symbol, BrokerAsPromised | undefined>;
    const partial = e.broker === undefined ? undefined : e[e.broker];
    if (partial) await partial.shutdown().catch(() => undefined);
    const text = String((err as { message?: unknown })?.message ?? err);
    // The broker went away (or stopped answering) between the preflight and rascal: waited for and
    // retried like a broker that is down at start, not a crash.
    if (/^Failed to connect to/.test(text)) throw unreachable(config, err);
    const refused = /invalid arg '([^']+)' for queue '([^']+)'.* of queue type (\w+)/.exec(text);
    if (refused) {
      const [, arg, queue, type] = refused;
      const at = queue === undefined ? undefined : config.queues[queue]?.at;
      throw new WarrenError('WARREN_E_CONFIG_CONFLICT', `the broker refuses ${arg} on queue "${queue}" (${type?.replace(/^rabbit_/, '').replace(/_/g, ' ')})`, {
        ...(at ?? {}),
        hint: `drop ${arg} from queues.${queue}.arguments, or give the queue a \`type:\` that takes it`,
        cause: err,
      });
    }
    if (/PRECONDITION[-_]FAILED/.test(text)) throw refusal(text, err);
    throw err;
  }
  broker.on('error', () => {
    // Only shutdown follows; its own errors are ignored below.
  });
  await broker.shutdown().catch(() => undefined);
}
