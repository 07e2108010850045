/**
 * Opens an AMQP connection to the first node of a list that answers, trying each in turn from a
 * given position. Every connection Warren opens (replicas, topology, dead-letter tools, admin depths,
 * `warren publish`) goes through here, so a cluster with a node down is still reached.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { connect as tcpConnect, type Socket } from 'node:net';
import { redactUrl } from '../errors';
import { addressOf, nodeOf, splitUrls, startingAt } from './urls';
import { readFramesFaster } from './frame-reader';

/** per node, connect and AMQP handshake (amqplib lifts it once the connection is open) */
const DEFAULT_TIMEOUT_MS = 10_000;

export interface ConnectOptions {
  /** where in the list to begin (wraps around); default 0 */
  startAt?: number;
  /** connect and handshake timeout per node, ms (default 10 s) */
  timeout?: number;
  /** shown in the management UI */
  connectionName?: string;
  /** TLS and socket options (rascal.json `connection.socketOptions`) */
  socketOptions?: Record<string, unknown>;
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
  const order = startingAt(
    urls.map((url, index) => ({ url, index })),
    options.startAt ?? 0,
  );
  // TCP_NODELAY unless rascal.json says otherwise: an ack or a confirm waiting behind Nagle's
  // algorithm holds the slot it frees; the frames of one pass still leave together (coalesceWrites).
  const socket: Record<string, unknown> = { noDelay: true, ...options.socketOptions };
  // Bounded by default: a node that accepts the socket while it shuts down may never finish the handshake.
  socket['timeout'] = options.timeout ?? DEFAULT_TIMEOUT_MS;
  if (options.connectionName) socket['clientProperties'] = { ...(socket['clientProperties'] as object | undefined), connection_name: options.connectionName };
  const failures: string[] = [];
  let last: unknown;
  for (const { url, index } of order) {
    try {
      const connection = await amqplib.connect(url, socket);
      coalesceWrites(connection);
      readFramesFaster(connection);
      return { connection, url, node: nodeOf(url), index };
    } catch (err) {
      last = await handshakeTimeout(err, url, socket['timeout'] as number);
      failures.push(urls.length === 1 ? messageOf(last) : `${nodeOf(url)}: ${messageOf(last)}`);
    }
  }
  // One node: its own error as it was. Several: what each said, so ACCESS_REFUSED and the like still show.
  if (urls.length === 1) throw last;
  throw Object.assign(new Error(redactUrl(`no node answered (${failures.join('; ')})`)), { cause: last });
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
