/**
 * Which broker to reach: `AMQP_URL` from the environment wins, then rascal.json's connection (a URL
 * or rascal's connection attributes) or `connections: [...]` (the nodes of a cluster, each a URL or
 * attributes), then DEFAULTS.url. The result is one URL or several joined by commas. Pure.
 */
import { redactUrl } from '../errors';
import { joinUrls, splitUrls } from '../connection/urls';
import { DEFAULTS } from './types';
import type { Env } from './interpolate';

export interface ResolvedConnection {
  /** one AMQP URL, or a cluster's URLs separated by commas */
  url: string;
  vhost: string;
  /** where the URL came from, for messages: `AMQP_URL`, a rascal.json key path, or `default` */
  source: string;
  /** the keys of rascal.json that hold it (`['vhosts', '/', 'connection']`), when it came from there */
  sourceKeys?: string[];
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
function takeRascalConnection(rascal: Obj): { url?: string; source?: string; sourceKeys?: string[]; rest: Obj } {
  const rest: Obj = structuredClone(rascal);
  let found: { url?: string; source?: string; sourceKeys?: string[] } = {};
  const take = (holder: Obj, keys: string[], vhostName: string | undefined): void => {
    const path = keys.map((k) => k + '.').join('');
    const list: unknown[] = Array.isArray(holder.connections) ? holder.connections : [];
    const entries = holder.connection !== undefined ? [holder.connection] : list;
    const key = holder.connection !== undefined ? 'connection' : 'connections';
    if (found.url === undefined && entries.length > 0) {
      const urls = entries.flatMap((c) => (typeof c === 'string' ? [c] : isObj(c) ? [typeof c.url === 'string' ? c.url : fromAttributes(c, vhostName)] : []));
      if (urls.length > 0) found = { url: joinUrls(urls), source: path + key, sourceKeys: [...keys, key] };
    }
    if (found.url === undefined && vhostName !== undefined) found = { url: withVhost(DEFAULTS.url, vhostName), source: path.slice(0, -1), sourceKeys: keys };
    // Options written on the first node's attributes (socketOptions, heartbeat, ...) hold for every node.
    if (holder.connection === undefined && isObj(list[0])) holder.connection = list[0];
    delete holder.connections;
    if (isObj(holder.connection)) {
      for (const key of COMPUTED) delete holder.connection[key];
      if (Object.keys(holder.connection).length === 0) delete holder.connection;
    } else delete holder.connection;
  };
  take(rest, [], undefined);
  if (isObj(rest.vhosts)) {
    for (const [name, vhost] of Object.entries(rest.vhosts)) if (isObj(vhost)) take(vhost, ['vhosts', name], name);
  }
  return { ...found, rest };
}

export function resolveConnection(rascal: Obj, env: Env): ResolvedConnection {
  const { url: fromRascal, source: rascalSource, sourceKeys, rest: rascalRest } = takeRascalConnection(rascal);
  const fromEnv = env.AMQP_URL;
  const [url, source] =
    fromEnv !== undefined && fromEnv !== ''
      ? [fromEnv, 'AMQP_URL']
      : fromRascal !== undefined
        ? [fromRascal, `rascal.json ${rascalSource}`]
        : [DEFAULTS.url, 'default'];
  const resolved = checkUrls(url, source, rascalRest);
  return fromRascal !== undefined && source !== 'AMQP_URL' && sourceKeys ? { ...resolved, sourceKeys } : resolved;
}

function checkUrls(url: string, source: string, rest: Obj): ResolvedConnection {
  const urls = splitUrls(url);
  if (urls.length === 0) return { url, vhost: '/', source, rascal: rest, problem: 'no broker URL is given' };
  const vhosts = new Set<string>();
  for (const one of urls) {
    try {
      const parsed = new URL(one);
      if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
        return { url, vhost: '/', source, rascal: rest, problem: `${redactUrl(one)} is not an amqp:// or amqps:// URL` };
      }
      vhosts.add(vhostOf(one));
    } catch {
      return { url, vhost: '/', source, rascal: rest, problem: `${redactUrl(one)} is not a valid URL` };
    }
  }
  const [vhost = '/'] = vhosts;
  if (vhosts.size > 1) {
    return {
      url,
      vhost,
      source,
      rascal: rest,
      problem: `the URLs name different vhosts (${[...vhosts].join(', ')}); the nodes of one cluster serve one vhost`,
    };
  }
  return { url: joinUrls(urls), vhost, source, rascal: rest };
}
