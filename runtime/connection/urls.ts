/**
 * Pure: a broker address is one AMQP URL or several separated by commas (the nodes of a RabbitMQ
 * cluster). Every connection Warren opens goes through this list (./connect.ts).
 */

/** A comma starts a new URL only where a scheme follows, so a comma inside a password survives. */
const SEPARATOR = /\s*,\s*(?=[a-z][a-z0-9+.-]*:\/\/)/i;

/** The URLs of a list, in order, blanks dropped. */
export function splitUrls(list: string | readonly string[]): string[] {
  const parts = typeof list === 'string' ? list.split(SEPARATOR) : list;
  return parts.map((u) => u.trim().replace(/,+$/, '')).filter((u) => u !== '');
}

export function joinUrls(urls: readonly string[]): string {
  return urls.join(',');
}

/** Applies `change` to every URL of a list, keeping it a list. */
export function mapUrls(list: string, change: (url: URL) => void): string {
  return joinUrls(
    splitUrls(list).map((u) => {
      const parsed = new URL(u);
      change(parsed);
      return parsed.toString();
    }),
  );
}

/** `host:port` of a URL: how logs and /functions name the node a connection is on (no credentials). */
export function nodeOf(url: string): string {
  const address = addressOf(url);
  return address ? `${address.hostname}:${address.port}` : '(unparsable URL)';
}

/** The host (as a URL writes it: an IPv6 address in brackets) and port an AMQP URL names; null if it does not parse. */
export function addressOf(url: string): { hostname: string; port: number } | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  return { hostname: parsed.hostname, port: Number(parsed.port) || (parsed.protocol === 'amqps:' ? 5671 : 5672) };
}

/** The list rotated to begin at `start` (modulo its length): replicas begin at different nodes. */
export function startingAt<T>(items: readonly T[], start: number): T[] {
  if (items.length === 0) return [];
  const at = ((Math.trunc(start) % items.length) + items.length) % items.length;
  return [...items.slice(at), ...items.slice(0, at)];
}

/**
 * The order a connection tries the nodes in: the one at `start` first, then the others from the next
 * one on, rotated by `spread` (a replica's own number). Replicas whose first node is down (or that
 * lost it) then spread over the others instead of all landing on the next one: with three nodes
 * and one down, the two left shared eight replicas 6 and 2.
 */
export function tryOrder<T>(items: readonly T[], start: number, spread = 0): T[] {
  const all = startingAt(items, start);
  if (all.length <= 2) return all;
  return [all[0]!, ...startingAt(all.slice(1), spread)];
}

/** After a connection to the node at `index`: where the next attempt begins (another node, chosen by `spread`). */
export function nextStart(index: number, count: number, spread: number): number {
  return count <= 2 ? index + 1 : index + 1 + (((Math.trunc(spread) % (count - 1)) + count - 1) % (count - 1));
}

/**
 * Where a replica begins in the list: its number, this process and its function spread replicas,
 * pods (each `--replicas 1`, so replica 1 everywhere) and functions over the nodes.
 */
export function spreadOffset(fnName: string, replica: number, salt: number): number {
  let hash = 0;
  for (let i = 0; i < fnName.length; i++) hash = (hash * 31 + fnName.charCodeAt(i)) >>> 0;
  return (hash + replica - 1 + salt) >>> 0;
}
