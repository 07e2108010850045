/**
 * A cluster's URL list with an entry no failover could use (a wrong port, a wrong password, another
 * host's name): every connection goes to the first node that answers, so such an entry goes unseen
 * until the good nodes die, and then nothing connects. `warren check` and `start` try each entry on
 * its own and say which would fail, and why.
 */
import { connectToAny } from './connect';
import { redactUrl } from '../errors';
import { nodeOf, splitUrls } from './urls';

export interface UnusableNode {
  /** `host:port` (the URL holds a password: never shown) */
  node: string;
  /** its position in the list, 1-based */
  position: number;
  why: string;
}

/** Each node of a list of two or more that does not take a connection now (within `timeoutMs`). */
export async function unusableNodes(list: string, options: { timeoutMs?: number; socketOptions?: Record<string, unknown> } = {}): Promise<UnusableNode[]> {
  const urls = splitUrls(list);
  if (urls.length < 2) return [];
  const tried = await Promise.all(
    urls.map(async (url, i) => {
      try {
        const { connection } = await connectToAny(url, {
          timeout: options.timeoutMs ?? 3_000,
          connectionName: 'warren (checking the URL list)',
          ...(options.socketOptions ? { socketOptions: options.socketOptions } : {}),
        });
        await connection.close().catch(() => undefined);
        return null;
      } catch (err) {
        return { node: nodeOf(url), position: i + 1, why: redactUrl(String((err as { message?: unknown })?.message ?? err)).replace(/\s+/g, ' ') };
      }
    }),
  );
  return tried.filter((t): t is UnusableNode => t !== null);
}

/** One warning per unusable node, as check prints it and start logs it. */
export function unusableNodeWarning(n: UnusableNode, of: number): string {
  const refused = /ACCESS[-_]REFUSED|403/.test(n.why);
  const fix = refused
    ? 'its user or password is wrong for this node (every node of a cluster takes the same ones)'
    : 'check its host and port, or leave it out while the node is down';
  return `node ${n.position} of ${of} in the URL list, ${n.node}, takes no connection (${n.why}): a failover to it would fail; ${fix}`;
}
