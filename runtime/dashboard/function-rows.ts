/** Which functions the functions view lists, and in what order: a name filter, then a sort. Pure. */
import type { LiveFunction } from './types';

/** `replicas`: by how many replicas are missing (desired − running), the under-replicated first. */
export type SortKey =
  'name' | 'replicas' | 'inPerSec' | 'handledPerSec' | 'failedPerSec' | 'p50Ms' | 'p95Ms' | 'inFlight' | 'queueDepth' | 'retryDepth' | 'deadLetterDepth';

export interface Sort {
  key: SortKey;
  /** numbers start with the largest first: what an operator looks for is the busiest or the failing one */
  descending: boolean;
}

export const BY_NAME: Sort = { key: 'name', descending: false };

/** The functions whose name holds `filter` (any case), sorted; ties and unknown figures (null) keep name order, unknowns last. */
export function functionRows(fns: readonly LiveFunction[], filter: string, sort: Sort): LiveFunction[] {
  const needle = filter.trim().toLowerCase();
  const shown = needle ? fns.filter((f) => f.name.toLowerCase().includes(needle)) : [...fns];
  const byName = (a: LiveFunction, b: LiveFunction) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  if (sort.key === 'name') return shown.sort((a, b) => (sort.descending ? -byName(a, b) : byName(a, b)));
  const key = sort.key;
  const figure = (f: LiveFunction): number | null => (key === 'replicas' ? f.desired - f.running : f[key]);
  return shown.sort((a, b) => {
    const x = figure(a);
    const y = figure(b);
    if (x === null || y === null) return x === y ? byName(a, b) : x === null ? 1 : -1;
    return x === y ? byName(a, b) : sort.descending ? y - x : x - y;
  });
}

/** A click on a column's heading: the same column flips its order, another starts with its natural one. */
export function nextSort(current: Sort, key: SortKey): Sort {
  if (current.key === key) return { key, descending: !current.descending };
  return { key, descending: key !== 'name' };
}

/** The sum of a figure over functions; null when no function knows it (the broker is out of reach). */
export function total(
  fns: readonly LiveFunction[],
  key: 'inPerSec' | 'handledPerSec' | 'failedPerSec' | 'retriedPerSec' | 'inFlight' | 'queueDepth' | 'retryDepth' | 'deadLetterDepth',
): number | null {
  let sum: number | null = null;
  for (const f of fns) {
    const v = f[key];
    if (v !== null) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** `unknown` while the runtime does not answer: its last figures are not news of the function (they stayed green). */
export function healthOf(fn: LiveFunction, answering = true): 'up' | 'degraded' | 'stopped' | 'unknown' {
  if (!answering) return 'unknown';
  return fn.running < fn.desired ? 'degraded' : fn.desired === 0 ? 'stopped' : 'up';
}

/** What a health dot says when pointed at. */
export function healthTitle(health: ReturnType<typeof healthOf>): string {
  return health === 'unknown' ? 'unknown: the runtime does not answer' : health;
}

/** The element id of a function's card (the table and the topology link to it). */
export function cardId(name: string): string {
  return `card-${name}`;
}
