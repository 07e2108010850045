/**
 * Which broker to reach: `AMQP_URL` from the environment wins, then rascal.json's connection (a URL
 * or rascal's connection attributes), then DEFAULTS.url. Pure.
 */
import { redactUrl } from '../errors';
import { DEFAULTS } from './types';
import type { Env } from './interpolate';

export interface ResolvedConnection {
  url: string;
  vhost: string;
  /** where the URL came from, for messages: `AMQP_URL`, a rascal.json key path, or `default` */
  source: string;
  /** rascal.json minus the connection attributes Warren computes (options, retry, … stay) */
  rascal: Record<string, unknown>;
  problem?: string;
}

const COMPUTED = ['url', 'protocol', 'hostname', 'port', 'user', 'password', 'vhost', 'slashes'];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The vhost an AMQP URL names; no path or an empty one means `/`. */
export function vhostOf(url: string): string {
  const path = new URL(url).pathname.replace(/^\//, '');
  return path === '' ? '/' : decodeURIComponent(path);
}

function fromAttributes(attrs: Obj, defaultVhost: string | undefined): string {
  const protocol = String(attrs.protocol ?? 'amqp').replace(/:$/, '');
  const hostname = String(attrs.hostname ?? '127.0.0.1');
  const port = attrs.port ?? (protocol === 'amqps' ? 5671 : 5672);
  const user = encodeURIComponent(String(attrs.user ?? 'guest'));
  const password = encodeURIComponent(String(attrs.password ?? 'guest'));
  const vhost = attrs.vhost ?? defaultVhost;
  const path = vhost === undefined || vhost === '/' ? '' : '/' + encodeURIComponent(String(vhost));
  return `${protocol}://${user}:${password}@${hostname}:${port}${path}`;
}

function withVhost(url: string, vhost: string | undefined): string {
  if (vhost === undefined || vhost === '/') return url;
  return url.replace(/\/*$/, '') + '/' + encodeURIComponent(vhost);
}

/** Finds the connection in rascal.json (and strips it), returning the URL it stands for. */
function takeRascalConnection(rascal: Obj): { url?: string; source?: string; rest: Obj } {
  const rest: Obj = structuredClone(rascal);
  let found: { url?: string; source?: string } = {};
  const take = (holder: Obj, path: string, vhostName: string | undefined): void => {
    const list = Array.isArray(holder.connections) ? holder.connections : [];
    const connection = holder.connection ?? list[0];
    const source = holder.connection !== undefined ? `${path}connection` : `${path}connections[0]`;
    if (found.url === undefined && connection !== undefined) {
      if (typeof connection === 'string') found = { url: connection, source };
      else if (isObj(connection)) {
        found = typeof connection.url === 'string' ? { url: connection.url, source } : { url: fromAttributes(connection, vhostName), source };
      }
    }
    if (found.url === undefined && vhostName !== undefined) found = { url: withVhost(DEFAULTS.url, vhostName), source: path.slice(0, -1) };
    delete holder.connections;
    if (isObj(holder.connection)) {
      for (const key of COMPUTED) delete holder.connection[key];
      if (Object.keys(holder.connection).length === 0) delete holder.connection;
    } else delete holder.connection;
  };
  take(rest, '', undefined);
  if (isObj(rest.vhosts)) {
    for (const [name, vhost] of Object.entries(rest.vhosts)) if (isObj(vhost)) take(vhost, `vhosts.${name}.`, name);
  }
  return { ...found, rest };
}

export function resolveConnection(rascal: Obj, env: Env): ResolvedConnection {
  const { url: fromRascal, source: rascalSource, rest } = takeRascalConnection(rascal);
  const fromEnv = env.AMQP_URL;
  const [url, source] =
    fromEnv !== undefined && fromEnv !== ''
      ? [fromEnv, 'AMQP_URL']
      : fromRascal !== undefined
        ? [fromRascal, `rascal.json ${rascalSource}`]
        : [DEFAULTS.url, 'default'];
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
      return { url, vhost: '/', source, rascal: rest, problem: `${redactUrl(url)} is not an amqp:// or amqps:// URL` };
    }
    return { url, vhost: vhostOf(url), source, rascal: rest };
  } catch {
    return { url, vhost: '/', source, rascal: rest, problem: `${redactUrl(url)} is not a valid URL` };
  }
}
