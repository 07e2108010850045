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

/**
 * Reads the admin API's live stream at `base`, as a page receives it, until `found` makes something
 * of the text so far or `ms` have passed; returns what it found (undefined when the time ran out) and the text.
 */
export async function readLive<T>(base: string, found: (text: string) => T | undefined, ms: number): Promise<{ value: T | undefined; text: string }> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  const res = await fetch(`${base}/events`, { signal: stop.signal });
  const reader = res.body!.getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { value: undefined, text };
      text += Buffer.from(value).toString('utf8');
      const made = found(text);
      if (made !== undefined) return { value: made, text };
    }
  } catch {
    // aborted: the time is up
    return { value: undefined, text };
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** The live stream's frames for `ms`. */
export async function liveFrames(base: string, ms: number): Promise<Array<{ functions: Array<Record<string, unknown>> }>> {
  const { text } = await readLive(base, () => undefined, ms);
  return [...text.matchAll(/event: frame\ndata: (.*)\n\n/g)].map((m) => JSON.parse(m[1]!) as { functions: Array<Record<string, unknown>> });
}
