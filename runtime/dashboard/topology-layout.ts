/**
 * Where the topology view draws each box and line, pure (test/unit/dashboard-topology.test.ts).
 *
 * Four columns: exchanges, bindings (their routing keys, one box each), queues, functions; an
 * exchange-to-exchange binding is written on its source exchange (`topic · → audit (#)`). A routing
 * key is a box of its own in the bindings column rather than text on a line, so no line ever runs
 * through a label: every curve is drawn in the empty gap between two columns, and inside a column
 * only straight stubs run along their own row. Queues are ordered by the exchanges they are bound to
 * and exchanges then placed level with their bindings, which keeps crossings few.
 */
import type { Topology } from './types';

export interface Box {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** cut to fit the box */
  label: string;
  /** the second line (type, dead-letter queue, output), empty on a binding */
  sub: string;
  /** everything, uncut: the box's tooltip */
  title: string;
  kind: 'exchange' | 'binding' | 'queue' | 'function';
  /** the default exchange's implied bindings, drawn dashed */
  implied?: boolean;
  /** the function's name, on a function box */
  fn?: string;
}

export interface Line {
  /** SVG path data */
  d: string;
  implied: boolean;
  /** where the curve part runs: always a gap between two columns */
  curveFrom: number;
  curveTo: number;
}

export interface TopologyLayout {
  width: number;
  height: number;
  boxes: Box[];
  lines: Line[];
  /** the x ranges of the four columns */
  columns: Array<{ x: number; width: number }>;
}

const PAD = 8;
const NODE_H = 40;
const PILL_H = 22;
/** vertical room per binding box, and the least per queue */
const PILL_ROW = 30;
const NODE_ROW = 54;
/** gaps between the columns, where the curves run */
const GAPS = [56, 36, 48];
/** rough glyph widths (px) of the fonts styles.css gives .node-label, .node-sub and .pill-label */
const LABEL_CHAR = 7.6;
const SUB_CHAR = 5.9;
const PILL_CHAR = 6.7;

export function layoutTopology(data: Topology): TopologyLayout {
  // Exchange-to-exchange bindings are written on their source exchange's box: `→ audit (#)`.
  const queueBindings = data.bindings.filter((b) => !b.toExchange);
  const onwards = new Map<string, string[]>();
  for (const b of data.bindings) {
    if (b.toExchange) onwards.set(b.exchange, [...(onwards.get(b.exchange) ?? []), `${b.queue} (${pillText(bindingKey(b))})`]);
  }
  const bound = new Set(queueBindings.map((b) => b.queue));
  const defaultNeeded = data.functions.some((f) => !bound.has(f.queue));
  const exchanges = [...data.exchanges, ...(defaultNeeded ? [{ name: '', type: 'direct' }] : [])];
  const exchangeIndex = new Map(exchanges.map((e, i) => [e.name, i]));
  const edges = [
    ...queueBindings.map((b) => ({ exchange: b.exchange, queue: b.queue, key: bindingKey(b), headers: headerMatch(b) !== null, implied: false })),
    ...data.functions.filter((f) => !bound.has(f.queue)).map((f) => ({ exchange: '', queue: f.queue, key: f.queue, headers: false, implied: true })),
  ];

  // Queues by the mean position of their exchanges (unbound ones last), declared order breaking ties.
  const queueNames = unique([...data.queues.map((q) => q.name), ...data.functions.map((f) => f.queue), ...edges.map((e) => e.queue)]);
  const meanExchange = (q: string) => {
    const xs = edges.filter((e) => e.queue === q).map((e) => exchangeIndex.get(e.exchange) ?? exchanges.length);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.POSITIVE_INFINITY;
  };
  const order = new Map(queueNames.map((q, i) => [q, i]));
  const queues = [...queueNames].sort((a, b) => meanExchange(a) - meanExchange(b) || order.get(a)! - order.get(b)!);
  const queueInfo = new Map(data.queues.map((q) => [q.name, q]));

  const exchangeBoxes = exchanges.map((e) => {
    const to = onwards.get(e.name);
    const kind = `${e.type}${'internal' in e && e.internal ? ' · internal' : ''}`;
    return { label: e.name || '(default)', sub: e.name ? `${kind}${to ? ` · → ${to.join(', ')}` : ''}` : 'routing key = queue name' };
  });
  const queueBoxes = queues.map((q) => {
    const info = queueInfo.get(q);
    return { label: q, sub: info ? `${info.type}${info.deadLetterQueue ? ` · dead letters: ${info.deadLetterQueue}` : ''}` : 'quorum' };
  });
  const functionBoxes = data.functions.map((f) => ({
    label: f.name,
    sub: f.output ? `returns → ${f.output.exchange || '(default)'}${f.output.routingKey ? ` · ${f.output.routingKey}` : ''}` : 'function',
  }));

  const widths = [
    nodeWidth(exchangeBoxes),
    clamp(Math.max(0, ...edges.map((e) => pillText(e.key).length * PILL_CHAR + 18)), 60, 200),
    // Wider: a queue's second line names its dead-letter queue, which repeats its name (`orders · dead letters: orders.dead`).
    nodeWidth(queueBoxes, 380),
    nodeWidth(functionBoxes),
  ];
  const columns: Array<{ x: number; width: number }> = [];
  let x = PAD;
  for (const [i, width] of widths.entries()) {
    columns.push({ x, width });
    x += width + (GAPS[i] ?? 0);
  }
  const width = x + PAD;

  // Each queue takes a band tall enough for its bindings (or its own box), its bindings centred in it.
  const boxes: Box[] = [];
  const lines: Line[] = [];
  const queueY = new Map<string, number>();
  const pillsOfExchange = new Map<string, number[]>();
  let y = PAD;
  for (const [i, q] of queues.entries()) {
    const mine = edges
      .filter((e) => e.queue === q)
      .sort((a, b) => (exchangeIndex.get(a.exchange) ?? 0) - (exchangeIndex.get(b.exchange) ?? 0) || (a.key < b.key ? -1 : 1));
    const band = Math.max(NODE_ROW, mine.length * PILL_ROW);
    const mid = y + band / 2;
    queueY.set(q, mid);
    const box = queueBoxes[i]!;
    boxes.push({
      id: `q:${q}`,
      kind: 'queue',
      x: columns[2]!.x,
      y: mid - NODE_H / 2,
      width: columns[2]!.width,
      height: NODE_H,
      ...fit(box, columns[2]!.width),
    });
    const top = mid - (mine.length * PILL_ROW) / 2;
    for (const [j, e] of mine.entries()) {
      const cy = top + j * PILL_ROW + PILL_ROW / 2;
      const text = pillText(e.key);
      const pillWidth = Math.min(columns[1]!.width, text.length * PILL_CHAR + 18);
      boxes.push({
        id: `b:${e.exchange}>${q}:${e.key}`,
        kind: 'binding',
        x: columns[1]!.x,
        y: cy - PILL_H / 2,
        width: pillWidth,
        height: PILL_H,
        label: clip(text, Math.floor((columns[1]!.width - 18) / PILL_CHAR)),
        sub: '',
        title: `${e.implied ? 'default exchange' : `exchange ${e.exchange}`} → ${q}, ${e.headers ? 'headers' : 'routing key'} ${e.key === '' ? '"" (empty)' : e.key}`,
        implied: e.implied,
      });
      pillsOfExchange.set(e.exchange, [...(pillsOfExchange.get(e.exchange) ?? []), cy]);
      // binding → queue: a stub along the binding's own row to the column's edge, then the curve in the gap
      const stub = columns[1]!.x + columns[1]!.width;
      lines.push(curve(columns[1]!.x + pillWidth, stub, cy, columns[2]!.x - 2, mid, e.implied));
    }
    y += band + (i < queues.length - 1 ? 6 : 0);
  }
  let height = y + PAD;

  // Exchanges level with the mean of their bindings, pushed apart where they would overlap.
  const wanted = exchanges.map((e, i) => {
    const ys = pillsOfExchange.get(e.name) ?? [];
    return { i, y: ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Number.POSITIVE_INFINITY };
  });
  wanted.sort((a, b) => a.y - b.y || a.i - b.i);
  let next = PAD + NODE_H / 2;
  for (const w of wanted) {
    const cy = Math.max(Number.isFinite(w.y) ? w.y : next, next);
    next = cy + NODE_ROW;
    const e = exchanges[w.i]!;
    boxes.push({
      id: `x:${e.name}`,
      kind: 'exchange',
      x: columns[0]!.x,
      y: cy - NODE_H / 2,
      width: columns[0]!.width,
      height: NODE_H,
      ...fit(exchangeBoxes[w.i]!, columns[0]!.width),
    });
    for (const py of pillsOfExchange.get(e.name) ?? []) {
      const implied = e.name === '' && defaultNeeded;
      lines.push(curve(columns[0]!.x + columns[0]!.width, columns[0]!.x + columns[0]!.width, cy, columns[1]!.x - 2, py, implied));
    }
    height = Math.max(height, cy + NODE_H / 2 + PAD);
  }

  for (const [i, f] of data.functions.entries()) {
    const cy = queueY.get(f.queue) ?? PAD + NODE_H / 2;
    boxes.push({
      id: `f:${f.name}`,
      kind: 'function',
      fn: f.name,
      x: columns[3]!.x,
      y: cy - NODE_H / 2,
      width: columns[3]!.width,
      height: NODE_H,
      ...fit(functionBoxes[i]!, columns[3]!.width),
    });
    lines.push(curve(columns[2]!.x + columns[2]!.width, columns[2]!.x + columns[2]!.width, cy, columns[3]!.x - 2, cy, false));
  }
  return { width, height, boxes, lines, columns };
}

/** A straight stub from `x0` to `x1` on row `y0`, then a curve from (x1, y0) to (x2, y2). */
function curve(x0: number, x1: number, y0: number, x2: number, y2: number, implied: boolean): Line {
  const mid = (x1 + x2) / 2;
  const stub = x1 > x0 ? `M${r(x0)},${r(y0)} H${r(x1)} ` : `M${r(x1)},${r(y0)} `;
  return { d: `${stub}C${r(mid)},${r(y0)} ${r(mid)},${r(y2)} ${r(x2)},${r(y2)}`, implied, curveFrom: x1, curveTo: x2 };
}

function pillText(key: string): string {
  return key === '' ? '(empty key)' : key;
}

/**
 * What a binding matches: its routing key, or for a headers binding its arguments (`all: kind=slow`),
 * which the routing key means nothing to. Drawn as the key alone, `hdr → slow` read "(empty key)",
 * as if every message published to hdr reached slow.
 */
export function bindingKey(b: { routingKey: string; arguments?: Record<string, unknown> }): string {
  return headerMatch(b) ?? b.routingKey;
}

/** A headers binding's match (`all: kind=slow`); null for a binding that routes by its key. */
function headerMatch(b: { arguments?: Record<string, unknown> }): string | null {
  const args = b.arguments ?? {};
  const headers = Object.entries(args).filter(([k]) => k !== 'x-match');
  if (headers.length === 0) return null;
  const match = typeof args['x-match'] === 'string' ? String(args['x-match']) : 'all';
  return `${match}: ${headers.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ')}`;
}

function nodeWidth(boxes: Array<{ label: string; sub: string }>, max = 290): number {
  const widest = Math.max(0, ...boxes.map((b) => Math.max(b.label.length * LABEL_CHAR, b.sub.length * SUB_CHAR)));
  return clamp(Math.ceil(widest + 26), 150, max);
}

/** Label and second line cut to what a box of `width` holds (the whole text is in the box's tooltip). */
function fit(box: { label: string; sub: string }, width: number): { label: string; sub: string; title: string } {
  return {
    label: clip(box.label, Math.floor((width - 24) / LABEL_CHAR)),
    sub: clip(box.sub, Math.floor((width - 24) / SUB_CHAR)),
    title: `${box.label}\n${box.sub}`,
  };
}

function clip(s: string, n: number): string {
  return s.length > n ? s.slice(0, Math.max(1, n - 1)) + '…' : s;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function r(n: number): number {
  return Math.round(n * 10) / 10;
}
