/**
 * Opens an AMQP connection to the first node of a list that answers, trying each in turn from a
 * given position. Every connection Warren opens (replicas, topology, dead-letter tools, admin depths,
 * `warren publish`) goes through here, so a cluster with a node down is still reached.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { connect as tcpConnect, type Socket } from 'node:net';
import { redactUrl } from '../errors';
import { addressOf, nodeOf, splitUrls, tryOrder } from './urls';
import { readFramesFaster } from './frame-reader';

/** per node, connect and AMQP handshake (amqplib lifts it once the connection is open) */
const DEFAULT_TIMEOUT_MS = 10_000;

export interface ConnectOptions {
  /** where in the list to begin (wraps around); default 0 */
  startAt?: number;
  /** how the nodes after the first are rotated (./urls.ts tryOrder): a replica's own number spreads replicas; default 0 */
  spread?: number;
  /** connect and handshake timeout per node, ms (default 10 s) */
  timeout?: number;
  /** shown in the management UI */
  connectionName?: string;
  /** TLS and socket options (rascal.json `connection.socketOptions`) */
  socketOptions?: Record<string, unknown>;
  /** how long a node may take before the next is tried beside it (default STAGGER_MS) */
  staggerMs?: number;
}

export interface NodeConnection {
  connection: ChannelModel;
  /** the URL that answered (holds a password: never log it, log `node`) */
  url: string;
  /** `host:port` of that node */
  node: string;
  /** its position in the list */
  index: number;
}

export async function connectToAny(list: string | readonly string[], options: ConnectOptions = {}): Promise<NodeConnection> {
  const urls = splitUrls(list);
  if (urls.length === 0) throw new Error('no broker URL given');
  const order = tryOrder(
    urls.map((url, index) => ({ url, index })),
    options.startAt ?? 0,
    options.spread ?? 0,
  );
  // TCP_NODELAY unless rascal.json says otherwise: an ack or a confirm waiting behind Nagle's
  // algorithm holds the slot it frees; the frames of one pass still leave together (coalesceWrites).
  const socket: Record<string, unknown> = { noDelay: true, ...options.socketOptions };
  // Bounded by default: a node that accepts the socket while it shuts down may never finish the handshake.
  socket['timeout'] = options.timeout ?? DEFAULT_TIMEOUT_MS;
  if (options.connectionName) socket['clientProperties'] = { ...(socket['clientProperties'] as object | undefined), connection_name: options.connectionName };
  const attempt = async (url: string, signal: AbortSignal): Promise<ChannelModel> => {
    try {
      // net.connect hands `signal` to its socket: a node still trying when another answered is let go at once.
      const own: Record<string, unknown> = { ...socket, signal };
      return await amqplib.connect(url, own);
    } catch (err) {
      throw await handshakeTimeout(err, url, socket['timeout'] as number);
    }
  };
  const won = await firstToAnswer(order, ({ url }, signal) => attempt(url, signal), options.staggerMs ?? STAGGER_MS).catch((failures: unknown[]) => {
    const last = failures[failures.length - 1];
    // One node: its own error as it was. Several: what each said, so ACCESS_REFUSED and the like still show.
    if (urls.length === 1) throw last;
    const said = order.map(({ url }, i) => `${nodeOf(url)}: ${messageOf(failures[i])}`);
    throw Object.assign(new Error(redactUrl(`no node answered (${said.join('; ')})`)), { cause: last });
  });
  const { url, index } = won.item;
  coalesceWrites(won.value);
  readFramesFaster(won.value);
  return { connection: won.value, url, node: nodeOf(url), index };
}

/**
 * How long a node of a list has to answer before the next one is tried beside it. A node that
 * refuses is passed over at once; one that takes the socket and never answers (a frozen node, a
 * port mistyped into another service, a firewall that drops) held every replica on its way to the
 * next node for the whole handshake timeout: 7 to 10 s of no consuming after a node was lost.
 */
const STAGGER_MS = 1_000;

/**
 * Tries `items` in order, the next one starting when the last failed or after `staggerMs` without an
 * answer (RFC 8305's "happy eyeballs"); resolves with the first that succeeds, aborts the ones still
 * trying (a pending socket kept `warren publish` alive for the whole handshake timeout) and closes any
 * that succeeded all the same. Rejects with every failure, in the order of `items`, when all failed.
 */
export function firstToAnswer<T>(
  items: readonly T[],
  attempt: (item: T, signal: AbortSignal) => Promise<ChannelModel>,
  staggerMs: number,
): Promise<{ item: T; value: ChannelModel }> {
  return new Promise((resolve, reject) => {
    const failures: unknown[] = new Array(items.length);
    let next = 0;
    let running = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const aborts: AbortController[] = [];
    const start = (): void => {
      clearTimeout(timer);
      if (done || next >= items.length) return;
      const i = next++;
      const item = items[i]!;
      running++;
      const abort = new AbortController();
      aborts.push(abort);
      attempt(item, abort.signal).then(
        (value) => {
          running--;
          if (done) return void value.close().catch(() => undefined);
          done = true;
          clearTimeout(timer);
          for (const other of aborts) if (other !== abort) other.abort();
          resolve({ item, value });
        },
        (err: unknown) => {
          running--;
          failures[i] = err;
          if (done) return;
          if (next < items.length) start();
          else if (running === 0) {
            done = true;
            reject(failures);
          }
        },
      );
      if (next < items.length) timer = setTimeout(start, staggerMs);
    };
    start();
  });
}

/** How `handshakeTimeout` words it; runtime/topology/declare.ts recognises it. */
export const NO_HANDSHAKE = 'accepted the connection but did not finish the AMQP handshake';

/**
 * amqplib says `connect ETIMEDOUT` both when nothing answers and when a node accepts the socket but
 * never answers the handshake: a broker out of file descriptors (RabbitMQ started with `ulimit -n`
 * 1024 and many queues) or a node starting or stopping. The second needs another fix, so a timeout
 * is looked at again: a node that accepts a plain TCP connection at once gets the error that says so.
 */
async function handshakeTimeout(err: unknown, url: string, timeoutMs: number): Promise<unknown> {
  const address = addressOf(url);
  if ((err as { message?: unknown })?.message !== 'connect ETIMEDOUT' || !address) return err;
  const accepts = await new Promise<boolean>((resolve) => {
    const probe = tcpConnect({ host: address.hostname.replace(/^\[|\]$/g, ''), port: address.port });
    const done = (ok: boolean) => {
      probe.destroy();
      resolve(ok);
    };
    probe.setTimeout(Math.min(1_000, timeoutMs), () => done(false));
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
  if (!accepts) return err;
  return Object.assign(new Error(`${nodeOf(url)} ${NO_HANDSHAKE} within ${timeoutMs} ms`), { code: 'ETIMEDOUT', cause: err });
}

function messageOf(err: unknown): string {
  return redactUrl(String((err as { message?: unknown })?.message ?? err));
}

/**
 * Writes what amqplib's channels have queued to the socket now, in this turn. amqplib hands a
 * channel's frames to its muxer only once the channel's buffer has said 'readable' (a nextTick
 * later) and writes them in a setImmediate: a replica thread ending (process.exit in a handler) has
 * no such pass, nor has one whose handler blocks the event loop in the same pass (a `while (true)`
 * started by a delivery of the same read), and the acks still queued were lost with it, so messages
 * handled milliseconds before ran again. Channel 0 writes to the socket itself; the others' queued
 * frames are read here in order, and the muxer later finds them gone. The socket writes at once
 * when it can.
 */
export function writeQueuedFrames(model: ChannelModel): void {
  const inner = (model as unknown as { connection?: { stream?: Socket; channels?: unknown } }).connection;
  const out = inner?.stream;
  const channels = inner?.channels;
  if (!out || out.destroyed || !Array.isArray(channels)) return;
  out.cork();
  try {
    for (let i = 1; i < channels.length; i++) {
      const buffer = (channels[i] as { buffer?: { read?: () => unknown } } | null)?.buffer;
      if (typeof buffer?.read !== 'function') continue;
      for (let chunk = buffer.read(); chunk !== null; chunk = buffer.read()) out.write(chunk as Buffer);
    }
  } finally {
    out.uncork();
  }
}

/**
 * amqplib writes each frame it sends to the socket as its own write, one system call each; its
 * multiplexer sends what the channels queued in one pass (a setImmediate). Corking the socket for
 * that pass sends them in one writev: a replica's acks and publishes, or `warren publish`'s stream
 * of messages, cost one system call per pass instead of one per frame (bench: the relay row, and the
 * broker's CPU in the 5 ms row). amqplib has no option for it: the pass is wrapped in place, and
 * test/integration/connection-writes.test.ts fails if amqplib's internals no longer have this shape.
 */
function coalesceWrites(model: ChannelModel): void {
  const inner = (model as unknown as { connection?: { stream?: unknown; muxer?: { _readIncoming?: unknown } } }).connection;
  const stream = inner?.stream as Socket | undefined;
  const muxer = inner?.muxer;
  if (!stream || typeof stream.cork !== 'function' || !muxer || typeof muxer._readIncoming !== 'function') return;
  const pass = (muxer._readIncoming as () => void).bind(muxer);
  muxer._readIncoming = () => {
    stream.cork();
    try {
      pass();
    } finally {
      stream.uncork();
    }
  };
}
