/** The topology drawn: exchanges → bindings (routing keys) → queues → functions, as SVG. */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { plural } from '../format';
import type { Topology as TopologyData } from '../types';

const ROW = 64;
const NODE_H = 40;
const COL_X = [0, 320, 640];
const NODE_W = [200, 230, 190];

interface Node {
  id: string;
  label: string;
  sub: string;
  col: number;
  row: number;
  kind: 'exchange' | 'queue' | 'function';
}

export function Topology() {
  const [data, setData] = useState<TopologyData | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<TopologyData>('GET', '/topology').then(setData, (err: unknown) => setError(err instanceof ApiError ? err.message : String(err)));
  }, []);
  if (error) return <p class="error-box">{error}</p>;
  if (!data) return <p class="muted">Loading…</p>;

  const bound = new Set(data.bindings.map((b) => b.queue));
  const needsDefault = data.functions.some((f) => !bound.has(f.queue));
  const exchanges = [...data.exchanges.map((e) => ({ name: e.name, type: e.type })), ...(needsDefault ? [{ name: '', type: 'direct' }] : [])];
  // Queues a function consumes, then the others; functions in the order of their queues.
  const queues = [...data.queues].sort((a, b) => rank(a.name) - rank(b.name));
  function rank(q: string): number {
    return data!.functions.some((f) => f.queue === q) ? 0 : 1;
  }
  const nodes: Node[] = [
    ...exchanges.map((e, i): Node => ({
      id: `x:${e.name}`,
      label: e.name || '(default)',
      sub: e.name ? e.type : 'routing key = queue',
      col: 0,
      row: i,
      kind: 'exchange',
    })),
    ...queues.map((q, i): Node => ({
      id: `q:${q.name}`,
      label: q.name,
      sub: `${q.type}${q.deadLetterQueue ? ` · dead letters: ${q.deadLetterQueue}` : ''}`,
      col: 1,
      row: i,
      kind: 'queue',
    })),
    ...data.functions.map((f): Node => ({
      id: `f:${f.name}`,
      label: f.name,
      sub: f.output ? `returns → ${f.output.exchange} / ${f.output.routingKey}` : 'function',
      col: 2,
      row: queues.findIndex((q) => q.name === f.queue),
      kind: 'function',
    })),
  ];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges = [
    ...data.bindings.map((b) => ({ from: `x:${b.exchange}`, to: `q:${b.queue}`, label: b.routingKey || '""', dashed: false })),
    ...data.functions.filter((f) => !bound.has(f.queue)).map((f) => ({ from: 'x:', to: `q:${f.queue}`, label: f.queue, dashed: true })),
    ...data.functions.map((f) => ({ from: `q:${f.queue}`, to: `f:${f.name}`, label: '', dashed: false })),
  ];
  const rows = Math.max(exchanges.length, queues.length, 1);
  const width = COL_X[2]! + NODE_W[2]! + 10;
  const height = rows * ROW + 20;
  const y = (n: Node) => 10 + n.row * ROW;

  return (
    <div class="topology">
      <p class="muted">
        {plural(data.exchanges.length, 'exchange')}, {plural(data.queues.length, 'queue')}, {plural(data.bindings.length, 'binding')},{' '}
        {plural(data.functions.length, 'function')}. Every function's queue also takes messages from the default exchange with the queue's name as routing key;
        retries and dead letters go through it.
      </p>
      <div class="topology-scroll">
        <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label="exchanges, bindings, queues and functions">
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
            </marker>
          </defs>
          {edges.map((e, i) => {
            const a = byId.get(e.from);
            const b = byId.get(e.to);
            if (!a || !b) return null;
            const x1 = COL_X[a.col]! + NODE_W[a.col]!;
            const y1 = y(a) + NODE_H / 2;
            const x2 = COL_X[b.col]! - 2;
            const y2 = y(b) + NODE_H / 2;
            const mid = (x1 + x2) / 2;
            return (
              <g key={i} class={`edge ${e.dashed ? 'dashed' : ''}`}>
                <path d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} marker-end="url(#arrow)" />
                {e.label ? (
                  <text x={mid} y={(y1 + y2) / 2 - 4} text-anchor="middle" class="edge-label">
                    {e.label}
                  </text>
                ) : null}
              </g>
            );
          })}
          {nodes.map((n) => (
            <g key={n.id} class={`node ${n.kind}`} transform={`translate(${COL_X[n.col]},${y(n)})`}>
              {n.kind === 'function' ? (
                <a href={`#/dead-letters/${encodeURIComponent(n.label)}`} aria-label={`function ${n.label}`}>
                  <NodeBox n={n} />
                </a>
              ) : (
                <NodeBox n={n} />
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
          <span class="swatch queue" /> queue
        </li>
        <li>
          <span class="swatch function" /> function
        </li>
      </ul>
    </div>
  );
}

function NodeBox({ n }: { n: Node }) {
  const w = NODE_W[n.col]!;
  return (
    <>
      <rect width={w} height={NODE_H} rx={n.kind === 'exchange' ? 20 : 8} />
      <text x={12} y={17} class="node-label">
        {clip(n.label, 26)}
      </text>
      <text x={12} y={32} class="node-sub">
        {clip(n.sub, 38)}
      </text>
      <title>{`${n.label}\n${n.sub}`}</title>
    </>
  );
}

function clip(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}
