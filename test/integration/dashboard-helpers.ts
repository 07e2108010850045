/**
 * Shared by the dashboard tests: a project with two functions on a topic exchange (`orders` rejects a
 * message that asks for it, `audit` never fails), each reporting what it handled, with the exchange and
 * routing key it saw, to the `results` queue.
 */
import { getAll } from '../helpers/broker';
import { waitFor } from '../helpers/runtime';

export const DASHBOARD_YAML = `exchanges:
  shop: { type: topic }
  results: { type: fanout }
queues:
  results: { type: classic }
bindings:
  - { exchange: shop, queue: orders, routingKey: 'order.*' }
  - { exchange: shop, queue: audit, routingKey: '#' }
  - { exchange: results, queue: results, routingKey: '' }
functions:
  orders:
    retry: { attempts: 1 }
  audit: {}
`;

/** Reports `{fn, body, exchange, routingKey, attempt}`; with `rejects`, `{"reject": true}` is dead-lettered with Reject. */
export function reportingFunction(fn: string, rejects = true): string {
  return `import { Reject, type Handler } from 'warren';
const handler: Handler<{ id?: string; reject?: boolean }> = async (message, ctx) => {
  if (${rejects} && message && message.reject) throw new Reject('refused order ' + message.id);
  await ctx.publish('results', '', { fn: ${JSON.stringify(fn)}, body: message, exchange: ctx.exchange, routingKey: ctx.routingKey, attempt: ctx.attempt });
};
export default handler;
`;
}

export interface Handled {
  fn: string;
  body: Record<string, unknown>;
  exchange: string;
  routingKey: string;
  attempt: number;
}

/** Everything handled so far (taken from `results`), after waiting until `until` holds or the timeout. */
export async function handledUntil(url: string, seen: Handled[], until: (all: Handled[]) => boolean, timeoutMs = 10_000): Promise<Handled[]> {
  await waitFor(
    async () => {
      for (const m of await getAll(url, 'results')) seen.push(JSON.parse(m.content.toString()) as Handled);
      return until(seen);
    },
    timeoutMs,
    100,
  );
  return seen;
}

/** The live stream's frames of the admin API at `base` for `ms`, as a page receives them. */
export async function liveFrames(base: string, ms: number): Promise<Array<{ functions: Array<Record<string, unknown>> }>> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  const res = await fetch(`${base}/events`, { signal: stop.signal });
  const reader = res.body!.getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
  } catch {
    // aborted: the time is up
  } finally {
    clearTimeout(timer);
  }
  return [...text.matchAll(/event: frame\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1]!) as { functions: Array<Record<string, unknown>> });
}
