/**
 * Pure: the outcome of one batch handler call (./run-batch.ts) → one Outcome per item, for the same
 * decision a single message gets (../outcome.ts). `{ failed, rejected }` name items by index;
 * returning nothing means all succeeded; throwing fails every item; `Reject` thrown rejects every
 * item. A result of another shape fails every item (at-least-once: nothing is acked on a result
 * Warren cannot read), and so does an object with a key other than those two, or with one of them set
 * to anything but a list of indexes: `{ failed: null }` too, since SPEC §3 makes only an omitted key
 * mean "none" (a `null` there is more likely a lookup that failed than a batch that succeeded).
 *
 * A call of several items that timed out is not decided here: it says nothing of which item hung,
 * so each item runs again alone (`runsAgainAlone`), and only one that times out alone fails.
 */
import { jsonOrInspect } from '../../lib/show-value';
import type { Outcome } from '../outcome';
import { refusal } from '../refusal';

export function itemOutcomes(count: number, outcome: Outcome): Outcome[] {
  if (outcome.kind !== 'ok') return Array.from({ length: count }, () => outcome);
  const read = readResult(outcome.value, count);
  if ('problem' in read) {
    const error = refusal(
      `the batch handler returned ${read.problem}; expected nothing or { failed?: number[], rejected?: number[] } with indexes below ${count}`,
      'a result Warren cannot read, which fails every item',
    );
    return Array.from({ length: count }, () => ({ kind: 'error', error, timedOut: false }));
  }
  const ok: Outcome = { kind: 'ok', value: undefined };
  return Array.from({ length: count }, (_, i): Outcome => {
    if (read.rejected.has(i))
      return { kind: 'reject', error: refusal(`the batch handler rejected items[${i}]`, 'named in the rejected list the batch handler returned') };
    if (read.failed.has(i))
      return {
        kind: 'error',
        error: refusal(`the batch handler reported items[${i}] as failed`, 'named in the failed list the batch handler returned'),
        timedOut: false,
      };
    return ok;
  });
}

/** A call of more than one item timed out: the items run again, each alone, before any is failed. */
export function runsAgainAlone(outcome: Outcome, size: number): outcome is Extract<Outcome, { kind: 'error' }> {
  return size > 1 && outcome.kind === 'error' && outcome.timedOut;
}

type Read = { failed: Set<number>; rejected: Set<number> } | { problem: string };

const KEYS = new Set(['failed', 'rejected']);

function readResult(value: unknown, count: number): Read {
  if (value === undefined || value === null) return { failed: new Set(), rejected: new Set() };
  if (typeof value !== 'object' || Array.isArray(value)) return { problem: Array.isArray(value) ? 'a list' : shown(value) };
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return { problem: `a ${(value as object).constructor?.name ?? 'non-plain'} object` };
  // A key Warren does not read would otherwise ack every item: Lambda's `batchItemFailures` (ported
  // handlers return it) or a typo such as `failures` means the handler meant some items to fail.
  const unknown = Object.keys(value).filter((key) => !KEYS.has(key));
  if (unknown.length > 0) {
    const lambda = unknown.includes('batchItemFailures') ? " (Lambda's partial batch response: return { failed: [indexes] } instead)" : '';
    const keys = unknown.map((key) => JSON.stringify(key)).join(', ');
    return { problem: `an object with ${unknown.length === 1 ? 'a key' : 'keys'} Warren does not read, ${keys}${lambda}` };
  }
  const { failed, rejected } = value as { failed?: unknown; rejected?: unknown };
  const f = indexes(failed, count);
  const r = indexes(rejected, count);
  if (typeof f === 'string') return { problem: `failed: ${f}` };
  if (typeof r === 'string') return { problem: `rejected: ${r}` };
  return { failed: f, rejected: r };
}

function indexes(value: unknown, count: number): Set<number> | string {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) return `${shown(value)}, not a list of indexes`;
  for (const i of value) if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= count) return `${shown(i)} is not an index`;
  return new Set(value as number[]);
}

/** A value in an error message, on one line. */
function shown(value: unknown): string {
  return jsonOrInspect(value, { inspect: { depth: 2, breakLength: Infinity } });
}
