/** The topology view's layout (runtime/dashboard/topology-layout.ts): no line runs through a label, no two boxes overlap. */
import { describe, expect, it } from 'vitest';
import { layoutTopology, type TopologyLayout } from '../../runtime/dashboard/topology-layout';
import type { Topology } from '../../runtime/dashboard/types';

const SHOP: Topology = {
  exchanges: [
    { name: 'shop', type: 'topic' },
    { name: 'notifications', type: 'fanout' },
    { name: 'billing', type: 'direct' },
  ],
  queues: [
    { name: 'charge-card', type: 'quorum', deadLetterQueue: 'charge-card.dead' },
    { name: 'emails', type: 'classic', deadLetterQueue: null },
    { name: 'send-sms', type: 'quorum', deadLetterQueue: 'send-sms.dead' },
    { name: 'render-invoice', type: 'quorum', deadLetterQueue: 'render-invoice.dead' },
    { name: 'audit', type: 'quorum', deadLetterQueue: 'audit.dead' },
    { name: 'nightly-report', type: 'quorum', deadLetterQueue: 'nightly-report.dead' },
  ],
  bindings: [
    { exchange: 'notifications', queue: 'emails', routingKey: '' },
    { exchange: 'shop', queue: 'charge-card', routingKey: 'order.created' },
    { exchange: 'shop', queue: 'send-sms', routingKey: 'order.*' },
    { exchange: 'billing', queue: 'render-invoice', routingKey: 'invoice' },
    { exchange: 'shop', queue: 'render-invoice', routingKey: 'order.paid' },
    { exchange: 'shop', queue: 'audit', routingKey: '#' },
    { exchange: 'billing', queue: 'audit', routingKey: 'invoice' },
    { exchange: 'notifications', queue: 'audit', routingKey: '' },
  ],
  functions: [
    { name: 'charge-card', queue: 'charge-card', output: { exchange: 'notifications', routingKey: '' } },
    { name: 'send-sms', queue: 'send-sms', output: null },
    { name: 'render-invoice', queue: 'render-invoice', output: null },
    { name: 'audit', queue: 'audit', output: null },
    { name: 'nightly-report', queue: 'nightly-report', output: null },
  ],
};

function overlaps(a: { x: number; y: number; width: number; height: number }, b: typeof a): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Every curve runs in a gap between two columns; every box sits inside its column; no two boxes overlap. */
function expectNoLineThroughALabel(layout: TopologyLayout): void {
  const { columns, boxes, lines } = layout;
  for (const line of lines) {
    const inColumn = columns.some((c) => line.curveFrom < c.x + c.width - 0.5 && line.curveTo > c.x + 0.5);
    expect(inColumn, line.d).toBe(false);
  }
  const kinds = ['exchange', 'binding', 'queue', 'function'] as const;
  for (const box of boxes) {
    const column = columns[kinds.indexOf(box.kind)]!;
    expect(box.x).toBeGreaterThanOrEqual(column.x);
    expect(box.x + box.width).toBeLessThanOrEqual(column.x + column.width + 0.01);
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.y + box.height).toBeLessThanOrEqual(layout.height);
    expect(box.x + box.width).toBeLessThanOrEqual(layout.width);
  }
  for (const [i, a] of boxes.entries()) for (const b of boxes.slice(i + 1)) expect(overlaps(a, b), `${a.id} and ${b.id}`).toBe(false);
}

describe('layoutTopology', () => {
  it("names a long function queue's dead-letter queue whole", () => {
    const layout = layoutTopology({
      exchanges: [{ name: 'orders', type: 'topic' }],
      queues: [{ name: 'flaky-order-handler', type: 'quorum', deadLetterQueue: 'flaky-order-handler.dead' }],
      bindings: [{ exchange: 'orders', queue: 'flaky-order-handler', routingKey: 'order.#' }],
      functions: [{ name: 'flaky-order-handler', queue: 'flaky-order-handler', output: null }],
    } as Topology);
    const queue = layout.boxes.find((b) => b.kind === 'queue')!;
    expect(queue.sub).toBe('quorum · dead letters: flaky-order-handler.dead');
    expectNoLineThroughALabel(layout);
  });

  it('gives every routing key a box of its own in the bindings column, and no line runs through a label', () => {
    const layout = layoutTopology(SHOP);
    const keys = layout.boxes.filter((b) => b.kind === 'binding').map((b) => b.label);
    expect(keys.sort()).toEqual(['#', '(empty key)', '(empty key)', 'invoice', 'invoice', 'nightly-report', 'order.*', 'order.created', 'order.paid']);
    expect(layout.lines).toHaveLength(9 * 2 + 5);
    expectNoLineThroughALabel(layout);
  });

  it('draws the default exchange, dashed, only for a function queue nothing else is bound to', () => {
    const layout = layoutTopology(SHOP);
    const implied = layout.boxes.filter((b) => b.implied);
    expect(implied.map((b) => b.label)).toEqual(['nightly-report']);
    expect(layout.boxes.find((b) => b.id === 'x:')?.label).toBe('(default)');
    expect(layout.lines.filter((l) => l.implied)).toHaveLength(2);
  });

  it('puts each function level with its queue, and says where its return value goes', () => {
    const layout = layoutTopology(SHOP);
    for (const f of SHOP.functions) {
      const fn = layout.boxes.find((b) => b.id === `f:${f.name}`)!;
      const queue = layout.boxes.find((b) => b.id === `q:${f.queue}`)!;
      expect(fn.y).toBe(queue.y);
    }
    expect(layout.boxes.find((b) => b.id === 'f:charge-card')?.sub).toBe('returns → notifications');
  });

  it('writes an exchange-to-exchange binding on its source exchange, and draws no queue for it', () => {
    const layout = layoutTopology({
      ...SHOP,
      exchanges: SHOP.exchanges.map((e) => (e.name === 'notifications' ? { ...e, internal: true } : e)),
      bindings: [...SHOP.bindings, { exchange: 'shop', queue: 'notifications', toExchange: true, routingKey: 'order.shipped' }],
    });
    const shop = layout.boxes.find((b) => b.id === 'x:shop')!;
    expect(shop.title).toBe('shop\ntopic · → notifications (order.shipped)');
    expect(layout.boxes.find((b) => b.id === 'x:notifications')?.sub).toBe('fanout · internal');
    expect(layout.boxes.filter((b) => b.kind === 'queue').map((b) => b.label)).not.toContain('notifications');
    expect(layout.boxes.filter((b) => b.kind === 'binding')).toHaveLength(9);
    expectNoLineThroughALabel(layout);
  });

  it('labels a headers binding with what it matches, not its routing key (which would read as an empty key: everything)', () => {
    const layout = layoutTopology({
      ...SHOP,
      exchanges: [...SHOP.exchanges, { name: 'hdr', type: 'headers' }],
      bindings: [...SHOP.bindings, { exchange: 'hdr', queue: 'audit', routingKey: '', arguments: { 'x-match': 'any', kind: 'slow', level: 3 } }],
    });
    const pill = layout.boxes.find((b) => b.kind === 'binding' && b.id.startsWith('b:hdr>'))!;
    expect(pill.label).toBe('any: kind=slow, level=3');
    expect(pill.title).toBe('exchange hdr → audit, headers any: kind=slow, level=3');
    expectNoLineThroughALabel(layout);
  });

  it('cuts long names to their box and keeps the whole name in the tooltip', () => {
    const long = 'a-rather-long-function-name-for-billing-reconciliation-and-everything-else';
    const layout = layoutTopology({
      exchanges: [],
      queues: [{ name: long, type: 'quorum', deadLetterQueue: `${long}.dead` }],
      bindings: [],
      functions: [{ name: long, queue: long, output: null }],
    });
    const fn = layout.boxes.find((b) => b.kind === 'function')!;
    expect(fn.label.endsWith('…')).toBe(true);
    expect(fn.label.length * 7.6).toBeLessThanOrEqual(fn.width);
    expect(fn.title).toContain(long);
    expectNoLineThroughALabel(layout);
  });

  it('holds with 30 functions on one topic exchange', () => {
    const names = Array.from({ length: 30 }, (_, i) => `worker-${String(i + 1).padStart(2, '0')}`);
    const layout = layoutTopology({
      exchanges: [{ name: 'events', type: 'topic' }],
      queues: names.map((n) => ({ name: n, type: 'quorum', deadLetterQueue: `${n}.dead` })),
      bindings: names.map((n) => ({ exchange: 'events', queue: n, routingKey: `${n}.#` })),
      functions: names.map((n) => ({ name: n, queue: n, output: null })),
    });
    expectNoLineThroughALabel(layout);
  });
});
