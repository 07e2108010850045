/** The topology drawn: exchanges → bindings (routing keys) → queues → functions, as SVG, and the same as a table. */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { plural } from '../format';
import { bindingKey, layoutTopology, type Box } from '../topology-layout';
import type { Topology as TopologyData } from '../types';

/** How often an open topology view reads /topology again (the project's config: no broker is asked). */
const TOPOLOGY_EVERY_MS = 3_000;

export function Topology() {
  const [data, setData] = useState<TopologyData | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // Read again while open: a deploy that adds or removes a function, a queue or a binding shows
    // without leaving the view (it showed the topology as it was when the view opened). Redrawn only
    // when it changed.
    let shown = '';
    const read = () =>
      api<TopologyData>('GET', '/topology').then(
        (next) => {
          const text = JSON.stringify(next);
          if (text === shown) return;
          shown = text;
          setData(next);
          setError(null);
        },
        (err: unknown) => setError(err instanceof ApiError ? err.message : String(err)),
      );
    void read();
    const timer = setInterval(() => void read(), TOPOLOGY_EVERY_MS);
    return () => clearInterval(timer);
  }, []);
  if (error) return <p class="error-box">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;
  if (data.queues.length === 0 && data.functions.length === 0) return <p class="empty">Nothing declared yet: the runtime has not loaded queues.yaml.</p>;

  const layout = layoutTopology(data);
  const functionOf = new Map(data.functions.map((f) => [f.queue, f.name]));
  const deadLetterQueueOf = new Map(data.queues.flatMap((q) => (q.deadLetterQueue ? [[q.name, q.deadLetterQueue] as const] : [])));
  return (
    <div class="topology">
      <p class="muted">
        {plural(data.exchanges.length, 'exchange')}, {plural(data.queues.length, 'queue')}, {plural(data.bindings.length, 'binding')},{' '}
        {plural(data.functions.length, 'function')}. Every function's queue also takes messages from the default exchange with the queue's name as routing key;
        retries and dead letters go through it.
      </p>
      <div class="topology-scroll">
        <svg
          viewBox={`0 0 ${layout.width} ${layout.height}`}
          width={layout.width}
          height={layout.height}
          role="img"
          aria-label="exchanges, bindings, queues and functions (the same as a table below)"
        >
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
            </marker>
          </defs>
          {layout.lines.map((l, i) => (
            <path key={i} d={l.d} class={`edge ${l.implied ? 'dashed' : ''}`} marker-end="url(#arrow)" />
          ))}
          {layout.boxes.map((b) => (
            <g key={b.id} class={`node ${b.kind} ${b.implied ? 'implied' : ''}`} transform={`translate(${b.x},${b.y})`}>
              {b.fn ? (
                <a href={`#/functions/${encodeURIComponent(b.fn)}`} aria-label={`function ${b.fn}`}>
                  <BoxShape b={b} />
                </a>
              ) : (
                <BoxShape b={b} />
              )}
            </g>
          ))}
        </svg>
      </div>
      <ul class="legend">
        <li>
          <span class="swatch exchange" /> exchange
        </li>
        <li>
          <span class="swatch binding" /> routing key of a binding
        </li>
        <li>
          <span class="swatch queue" /> queue
        </li>
        <li>
          <span class="swatch function" /> function
        </li>
      </ul>
      <details class="topology-table">
        <summary>As a table</summary>
        <div class="table-wrap">
          <table class="letters">
            <thead>
              <tr>
                <th scope="col">Exchange</th>
                <th scope="col">Routing key</th>
                <th scope="col">Queue</th>
                <th scope="col">Function</th>
                <th scope="col">Dead letters</th>
              </tr>
            </thead>
            <tbody>
              {[
                ...data.bindings.map((b) => ({ exchange: b.exchange, key: bindingKey(b), queue: b.queue, toExchange: b.toExchange === true })),
                ...data.functions.map((f) => ({ exchange: '(default)', key: f.queue, queue: f.queue, toExchange: false })),
              ].map((row, i) => (
                <tr key={i}>
                  <td class="mono">{row.exchange}</td>
                  <td class="mono">{row.key === '' ? '""' : row.key}</td>
                  <td class="mono">{row.toExchange ? `exchange ${row.queue}` : row.queue}</td>
                  <td>
                    {row.toExchange ? (
                      <span class="muted">through {row.queue}'s bindings</span>
                    ) : (
                      (functionOf.get(row.queue) ?? <span class="muted">none</span>)
                    )}
                  </td>
                  <td class="mono">{row.toExchange ? '' : (deadLetterQueueOf.get(row.queue) ?? <span class="muted">none</span>)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}

function BoxShape({ b }: { b: Box }) {
  if (b.kind === 'binding') {
    return (
      <>
        <rect width={b.width} height={b.height} rx={b.height / 2} />
        <text x={b.width / 2} y={b.height / 2 + 4} text-anchor="middle" class="pill-label">
          {b.label}
        </text>
        <title>{b.title}</title>
      </>
    );
  }
  return (
    <>
      <rect width={b.width} height={b.height} rx={b.kind === 'exchange' ? 20 : 8} />
      <text x={12} y={17} class="node-label">
        {b.label}
      </text>
      <text x={12} y={32} class="node-sub">
        {b.sub}
      </text>
      <title>{b.title}</title>
    </>
  );
}
