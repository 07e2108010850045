/**
 * Opens an AMQP connection to the first node of a list that answers, trying each in turn from a
 * given position. Every connection Warren opens (replicas, topology, dead-letter tools, admin depths,
 * `warren publish`) goes through here, so a cluster with a node down is still reached.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { redactUrl } from '../errors';
import { nodeOf, splitUrls, startingAt } from './urls';

export interface ConnectOptions {
  /** where in the list to begin (wraps around); default 0 */
  startAt?: number;
  /** socket connect timeout per node, ms */
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
  const socket: Record<string, unknown> = { ...options.socketOptions };
  if (options.timeout !== undefined) socket['timeout'] = options.timeout;
  if (options.connectionName) socket['clientProperties'] = { ...(socket['clientProperties'] as object | undefined), connection_name: options.connectionName };
  const failures: string[] = [];
  let last: unknown;
  for (const { url, index } of order) {
    try {
      const connection = await amqplib.connect(url, socket);
      return { connection, url, node: nodeOf(url), index };
    } catch (err) {
      last = err;
      failures.push(urls.length === 1 ? messageOf(err) : `${nodeOf(url)}: ${messageOf(err)}`);
    }
  }
  // One node: its own error as it was. Several: what each said, so ACCESS_REFUSED and the like still show.
  if (urls.length === 1) throw last;
  throw Object.assign(new Error(redactUrl(`no node answered (${failures.join('; ')})`)), { cause: last });
}

function messageOf(err: unknown): string {
  return redactUrl(String((err as { message?: unknown })?.message ?? err));
}
