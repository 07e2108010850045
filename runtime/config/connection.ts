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
  /** `two-vhosts`: the problem is that rascal.json names two places Warren could connect to */
  problemKind?: 'two-vhosts';
  /** connection settings in rascal.json of a shape Warren cannot read (it would fall back to a default without a word) */
  shapeProblems?: ShapeProblem[];
}

export interface ShapeProblem {
  /** where in rascal.json: `['vhosts', 'prod', 'connection', 'url']` */
  keys: string[];
  expected: string;
  got: unknown;
}

/** The connection attributes Warren reads, and what each must be. */
const ATTRIBUTES: Record<string, { expected: string; ok: (v: unknown) => boolean }> = {
  url: { expected: 'a URL like amqp://user:password@host:5672/vhost', ok: (v) => typeof v === 'string' },
  protocol: { expected: '"amqp" or "amqps"', ok: (v) => v === 'amqp' || v === 'amqps' || v === 'amqp:' || v === 'amqps:' },
  hostname: { expected: 'a host name', ok: (v) => typeof v === 'string' && v !== '' },
  port: { expected: 'a port number', ok: (v) => (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) && Number(v) > 0 && Number(v) < 65_536 },
  user: { expected: 'a string', ok: (v) => typeof v === 'string' },
  password: { expected: 'a string', ok: (v) => typeof v === 'string' },
  vhost: { expected: 'a string', ok: (v) => typeof v === 'string' },
  options: { expected: 'an object of connection options', ok: (v) => isObj(v) },
  socketOptions: { expected: 'an object of socket options', ok: (v) => isObj(v) },
  management: { expected: 'an object', ok: (v) => isObj(v) },
  retry: { expected: 'an object', ok: (v) => isObj(v) },
};

/**
 * Pure: connection settings of rascal.json that Warren would pass over for a default (vhost `/` on
 * localhost) without a word: `vhosts` or a vhost that is not an object, a connection that is neither
 * a URL nor attributes, an attribute of the wrong type.
 */
export function connectionShapeProblems(rascal: Obj): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const connection = (value: unknown, keys: string[]): void => {
    if (typeof value === 'string') return;
    if (!isObj(value)) {
      problems.push({ keys, expected: 'a URL string, or an object of attributes (url, or hostname, port, user, password, vhost)', got: value });
      return;
    }
    for (const [key, rule] of Object.entries(ATTRIBUTES))
      if (value[key] !== undefined && !rule.ok(value[key])) problems.push({ keys: [...keys, key], expected: rule.expected, got: value[key] });
  };
  const holder = (value: Obj, keys: string[]): void => {
    if (value.connection !== undefined) connection(value.connection, [...keys, 'connection']);
    if (value.connections !== undefined) {
      if (!Array.isArray(value.connections))
        problems.push({ keys: [...keys, 'connections'], expected: "a list of the cluster's nodes (URLs or attribute objects)", got: value.connections });
      else value.connections.forEach((c, i) => connection(c, [...keys, 'connections', String(i)]));
    }
  };
  holder(rascal, []);
  if (rascal.vhosts !== undefined) {
    if (!isObj(rascal.vhosts)) problems.push({ keys: ['vhosts'], expected: 'an object: { "<vhost name>": { "connection": … } }', got: rascal.vhosts });
    else
      for (const [name, vhost] of Object.entries(rascal.vhosts)) {
        if (isObj(vhost)) holder(vhost, ['vhosts', name]);
        else problems.push({ keys: ['vhosts', name], expected: "an object (the vhost's connection, queues, exchanges, …)", got: vhost });
      }
  }
  return problems;
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
function takeRascalConnection(rascal: Obj): {
  url?: string;
  source?: string;
  sourceKeys?: string[];
  rest: Obj;
  ambiguous?: { first: string; second: string; secondKeys: string[] };
} {
  const rest: Obj = structuredClone(rascal);
  let found: { url?: string; source?: string; sourceKeys?: string[] } = {};
  /** every place that gives a connection (an explicit one, or a vhost's name): Warren uses one */
  const explicit: Array<{ source: string; sourceKeys: string[]; url: string }> = [];
  const named: Array<{ source: string; sourceKeys: string[] }> = [];
  const take = (holder: Obj, keys: string[], vhostName: string | undefined): void => {
    const path = keys.map((k) => k + '.').join('');
    const list: unknown[] = Array.isArray(holder.connections) ? holder.connections : [];
    const entries = holder.connection !== undefined ? [holder.connection] : list;
    const key = holder.connection !== undefined ? 'connection' : 'connections';
    if (entries.length > 0) {
      const urls = entries.flatMap((c) => (typeof c === 'string' ? [c] : isObj(c) ? [typeof c.url === 'string' ? c.url : fromAttributes(c, vhostName)] : []));
      if (urls.length > 0) {
        explicit.push({ url: joinUrls(urls), source: path + key, sourceKeys: [...keys, key] });
        if (found.url === undefined) found = explicit[0]!;
      }
    }
    if (vhostName !== undefined) named.push({ source: path.slice(0, -1), sourceKeys: keys });
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
  // Two connections, or no connection and two vhosts: which one Warren would use is a guess.
  const vhostsOf = (urls: string): string[] => splitUrls(urls).flatMap((u) => (URL.canParse(u) ? [vhostOf(u)] : []));
  const explicitVhosts = new Set(explicit.flatMap((e) => vhostsOf(e.url)));
  const [first, second] = explicit.length > 1 && explicitVhosts.size > 1 ? explicit : explicit.length === 0 && named.length > 1 ? named : [];
  const ambiguous = first && second ? { first: first.source, second: second.source, secondKeys: second.sourceKeys } : undefined;
  return { ...found, rest, ...(ambiguous ? { ambiguous } : {}) };
}

export function resolveConnection(rascal: Obj, env: Env): ResolvedConnection {
  const { url: fromRascal, source: rascalSource, sourceKeys, rest: rascalRest, ambiguous } = takeRascalConnection(rascal);
  const fromEnv = env.AMQP_URL;
  const [url, source] =
    fromEnv !== undefined && fromEnv !== ''
      ? [fromEnv, 'AMQP_URL']
      : fromRascal !== undefined
        ? [fromRascal, `rascal.json ${rascalSource}`]
        : [DEFAULTS.url, 'default'];
  const checked = checkUrls(url, source, rascalRest);
  const resolved: ResolvedConnection =
    ambiguous && source !== 'AMQP_URL' && !checked.problem
      ? {
          ...checked,
          source: `rascal.json ${ambiguous.second}`,
          problem: `rascal.json points at two vhosts, at ${ambiguous.first} and at ${ambiguous.second}: Warren runs in one and would take the first without a word`,
          problemKind: 'two-vhosts',
        }
      : checked;
  const shapeProblems = connectionShapeProblems(rascal);
  const withKeys = fromRascal !== undefined && source !== 'AMQP_URL' && sourceKeys ? { ...resolved, sourceKeys } : resolved;
  // Two vhosts are said where the second one is written.
  const located = resolved.problemKind === 'two-vhosts' && ambiguous ? { ...withKeys, sourceKeys: ambiguous.secondKeys } : withKeys;
  return shapeProblems.length > 0 ? { ...located, shapeProblems } : located;
}

/**
 * Why one broker URL cannot be used, said without its password; null when it can. A URL whose
 * scheme lacks its `//` (`amqp:/user:password@host`) parses as a path with no host: its whole text
 * became the vhost, and the password was printed in every "no such vhost" error that followed.
 */
export function urlProblem(one: string): string | null {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(one)?.[1];
  if (scheme !== undefined && !['amqp', 'amqps'].includes(scheme.toLowerCase())) {
    // Only the scheme is shown: what follows it may be a password typed where the URL goes.
    return `the URL begins "${scheme}:", not amqp:// or amqps://`;
  }
  const invalid = `${redactUrl(one)} is not a valid URL (a user name or password holding @ : / ? # % [ ] or a space must be percent-encoded: # as %23, / as %2F, ? as %3F, @ as %40, % as %25)`;
  if (!URL.canParse(one)) return invalid;
  try {
    // A raw `%` (in a password that ran into the path) makes a vhost that does not decode.
    vhostOf(one);
  } catch {
    return invalid;
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(one) || new URL(one).hostname === '') {
    return `${redactUrl(one)} names no host: write amqp://user:password@host:5672/vhost, with two slashes after "amqp:"`;
  }
  return null;
}

function checkUrls(url: string, source: string, rest: Obj): ResolvedConnection {
  const urls = splitUrls(url);
  if (urls.length === 0) return { url, vhost: '/', source, rascal: rest, problem: 'no broker URL is given' };
  const vhosts = new Set<string>();
  for (const one of urls) {
    const problem = urlProblem(one);
    if (problem) return { url, vhost: '/', source, rascal: rest, problem };
    vhosts.add(vhostOf(one));
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
