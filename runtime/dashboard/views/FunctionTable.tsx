/**
 * Every function on one line each, to compare them at a glance and sort by what matters now (the
 * failing, the backed up). It scrolls sideways inside its own box on a narrow screen, the names
 * staying in view; a name leads to the function's card.
 */
import { count, ms, rate } from '../format';
import { cardId, healthOf, healthTitle, nextSort, type Sort, type SortKey } from '../function-rows';
import type { LiveFunction } from '../types';

interface Column {
  key: SortKey;
  label: string;
  cell(fn: LiveFunction): string;
  /** the figure calls for a look: shown in the warning or failure colour */
  tone?(fn: LiveFunction): 'bad' | 'warn' | undefined;
}

const COLUMNS: Column[] = [
  { key: 'inPerSec', label: 'In/s', cell: (f) => rate(f.inPerSec) },
  { key: 'handledPerSec', label: 'Handled/s', cell: (f) => rate(f.handledPerSec) },
  { key: 'failedPerSec', label: 'Failed/s', cell: (f) => rate(f.failedPerSec), tone: (f) => (f.failedPerSec > 0 ? 'bad' : undefined) },
  { key: 'p50Ms', label: 'p50', cell: (f) => ms(f.p50Ms) },
  { key: 'p95Ms', label: 'p95', cell: (f) => ms(f.p95Ms) },
  { key: 'inFlight', label: 'In flight', cell: (f) => count(f.inFlight) },
  { key: 'queueDepth', label: 'Queued', cell: (f) => count(f.queueDepth) },
  { key: 'retryDepth', label: 'Retrying', cell: (f) => count(f.retryDepth) },
  { key: 'deadLetterDepth', label: 'Dead letters', cell: (f) => count(f.deadLetterDepth), tone: (f) => ((f.deadLetterDepth ?? 0) > 0 ? 'warn' : undefined) },
];

export function FunctionTable({ rows, sort, onSort, answering = true }: { rows: LiveFunction[]; sort: Sort; onSort(sort: Sort): void; answering?: boolean }) {
  const heading = (key: SortKey, label: string, numeric: boolean) => (
    <th scope="col" class={numeric ? 'num' : undefined} aria-sort={sort.key === key ? (sort.descending ? 'descending' : 'ascending') : undefined} key={key}>
      <button type="button" class="sort" onClick={() => onSort(nextSort(sort, key))}>
        {label}
        {sort.key === key ? (
          <span class="sort-mark" aria-hidden="true">
            {sort.descending ? '▼' : '▲'}
          </span>
        ) : null}
      </button>
    </th>
  );
  return (
    <div class="table-wrap fn-table-wrap">
      <table class="fn-table" data-testid="functions-table">
        <caption class="visually-hidden">Functions, sortable by each column</caption>
        <thead>
          <tr>
            {heading('name', 'Function', false)}
            {heading('replicas', 'Replicas', true)}
            {COLUMNS.map((c) => heading(c.key, c.label, true))}
          </tr>
        </thead>
        <tbody>
          {rows.map((fn) => {
            const health = healthOf(fn, answering);
            return (
              <tr key={fn.name} data-row={fn.name}>
                <th scope="row" class="name">
                  <span class={`dot ${health}`} title={healthTitle(health)} />
                  <a
                    href={`#/functions/${encodeURIComponent(fn.name)}`}
                    title={fn.name}
                    onClick={() => document.getElementById(cardId(fn.name))?.scrollIntoView({ block: 'start' })}
                  >
                    {fn.name}
                  </a>
                </th>
                <td class={`num ${health === 'degraded' ? 'warn' : ''}`} title="running / desired">
                  {fn.running}/{fn.desired}
                </td>
                {COLUMNS.map((c) => (
                  <td key={c.key} class={`num ${c.tone?.(fn) ?? ''}`}>
                    {c.key === 'deadLetterDepth' && (fn.deadLetterDepth ?? 0) > 0 ? (
                      <a
                        href={`#/dead-letters/${encodeURIComponent(fn.name)}`}
                        aria-label={`${c.cell(fn)} dead letter${fn.deadLetterDepth === 1 ? '' : 's'} of ${fn.name}`}
                      >
                        {c.cell(fn)}
                      </a>
                    ) : (
                      c.cell(fn)
                    )}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
