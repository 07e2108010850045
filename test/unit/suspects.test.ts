/** Counting deliveries that ended without a settlement, and running suspects alone (runtime/replica/suspects.ts). */
import { describe, expect, it } from 'vitest';
import { admit, IsolationGate, priorDeliveries } from '../../runtime/replica/suspects';

const quorum = (headers: Record<string, unknown> = {}) => ({ headers, redelivered: false, queueType: 'quorum' as const });
const classic = (redelivered: boolean, headers: Record<string, unknown> = {}) => ({ headers, redelivered, queueType: 'classic' as const });
const calm = { isolating: false, ordered: false };

describe('priorDeliveries', () => {
  it('adds the broker count of a quorum queue to the count carried in the header', () => {
    expect(priorDeliveries(quorum())).toBe(0);
    expect(priorDeliveries(quorum({ 'x-delivery-count': 2 }))).toBe(2);
    expect(priorDeliveries(quorum({ 'x-delivery-count': 1, 'x-warren-redeliveries': 2 }))).toBe(3);
  });

  it('counts the redelivered flag of a classic queue as one more', () => {
    expect(priorDeliveries(classic(false))).toBe(0);
    expect(priorDeliveries(classic(true))).toBe(1);
    expect(priorDeliveries(classic(true, { 'x-warren-redeliveries': 2 }))).toBe(3);
    expect(priorDeliveries(classic(false, { 'x-warren-redeliveries': 2, 'x-delivery-count': 5 }))).toBe(2);
  });
});

describe('admit', () => {
  it('runs a fresh message side by side, a suspect alone, and dead-letters past the limit', () => {
    expect(admit(quorum(), 2, calm)).toEqual({ action: 'run', alone: false });
    expect(admit(quorum({ 'x-delivery-count': 2 }), 2, calm)).toEqual({ action: 'run', alone: true });
    expect(admit(quorum({ 'x-delivery-count': 2, 'x-warren-redeliveries': 1 }), 2, calm)).toEqual({ action: 'dead', redeliveries: 3 });
  });

  it('moves other suspects aside while one runs alone; fresh messages wait instead', () => {
    const isolating = { isolating: true, ordered: false };
    expect(admit(quorum({ 'x-delivery-count': 1 }), 3, isolating)).toEqual({ action: 'move', redeliveries: 1 });
    expect(admit(quorum(), 3, isolating)).toEqual({ action: 'run', alone: false });
  });

  it('writes a classic redelivery down (copy with the count) before running it again', () => {
    expect(admit(classic(true), 3, calm)).toEqual({ action: 'move', redeliveries: 1 });
    expect(admit(classic(false, { 'x-warren-redeliveries': 1 }), 3, calm)).toEqual({ action: 'run', alone: true });
    expect(admit(classic(true, { 'x-warren-redeliveries': 3 }), 3, calm)).toEqual({ action: 'dead', redeliveries: 4 });
  });

  it('never reorders an ordered function', () => {
    const ordered = { isolating: true, ordered: true };
    expect(admit(quorum({ 'x-delivery-count': 1 }), 3, ordered)).toEqual({ action: 'run', alone: false });
    expect(admit(quorum({ 'x-delivery-count': 4 }), 3, ordered)).toEqual({ action: 'dead', redeliveries: 4 });
  });
});

describe('IsolationGate', () => {
  const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

  it('starts a suspect only after the running messages and the burst it came with, and holds fresh ones meanwhile', async () => {
    const gate = new IsolationGate();
    const events: string[] = [];
    let finishA!: () => void;
    gate.arrived();
    const a = gate.run(false, () => new Promise<void>((r) => (finishA = () => (events.push('a done'), r()))));
    gate.arrived();
    const s = gate.run(true, async () => void events.push('suspect runs'));
    expect(gate.isolating).toBe(true);
    gate.arrived();
    const b = gate.run(false, async () => void events.push('b runs'));
    await tick(80);
    expect(events).toEqual([]);
    finishA();
    await Promise.all([a, s, b]);
    expect(events).toEqual(['a done', 'suspect runs', 'b runs']);
    expect(gate.isolating).toBe(false);
  });

  it('waits for moves in progress before the suspect starts', async () => {
    const gate = new IsolationGate();
    const events: string[] = [];
    let finishMove!: () => void;
    gate.arrived();
    const s = gate.run(true, async () => void events.push('suspect runs'));
    const m = gate.move(() => new Promise<void>((r) => (finishMove = () => (events.push('moved'), r()))));
    await tick(80);
    expect(events).toEqual([]);
    finishMove();
    await Promise.all([s, m]);
    expect(events).toEqual(['moved', 'suspect runs']);
  });
});
