/** Counting deliveries that ended without a settlement, and running suspects alone (runtime/replica/suspects.ts). */
import { describe, expect, it } from 'vitest';
import { admit, dropForeignCount, groupSize, holdingQueue, IsolationGate, priorDeliveries, suspectAdmission } from '../../runtime/replica/suspects';
import { AfterDeath, FORGIVEN_FOR_MS, ForgivenDeliveries } from '../../runtime/replica-protocol/forgiven';
import { createIsolationBuffer, isolationBuffer, IsolationSlots } from '../../runtime/replica-protocol/isolation-slots';
import type { Delivery } from '../../runtime/replica/delivery';
import type { FunctionConfig } from '../../runtime/config/types';

const quorum = (headers: Record<string, unknown> = {}) => ({ headers, redelivered: false, queueType: 'quorum' as const });
const classic = (redelivered: boolean, headers: Record<string, unknown> = {}) => ({ headers, redelivered, queueType: 'classic' as const });
const retry = { attempts: 3, backoff: 'exponential' as const, delay: 1_000, maxDelay: 300_000 };
const fn = (redeliveryLimit: number, more: { ordered?: boolean; attempts?: number; prefetch?: number } = {}) => ({
  queue: 'q',
  redeliveryLimit,
  prefetch: more.prefetch ?? 1,
  ordered: more.ordered ?? false,
  retry: { ...retry, attempts: more.attempts ?? retry.attempts },
});
const calm = { joinable: () => true };
const isolating = { joinable: () => false };

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
  it('runs a fresh message side by side', () => {
    expect(admit(quorum(), fn(2), calm)).toEqual({ action: 'run', alone: false });
    expect(admit(quorum(), fn(3), isolating)).toEqual({ action: 'run', alone: false });
  });

  it('sends a message the broker handed back (a replica died or hung on it) to wait aside, its count in the header', () => {
    expect(admit(quorum({ 'x-delivery-count': 1 }), fn(3), calm)).toEqual({ action: 'move', redeliveries: 1, queue: 'q.retry.1s', handedBack: true });
    expect(admit(quorum({ 'x-delivery-count': 1, 'x-warren-redeliveries': 1 }), fn(3), calm)).toEqual({
      action: 'move',
      redeliveries: 2,
      queue: 'q.retry.2s',
      handedBack: true,
    });
    expect(admit(classic(true), fn(3), calm)).toEqual({ action: 'move', redeliveries: 1, queue: 'q.retry.1s', handedBack: true });
  });

  it('runs a suspect apart when it comes back from waiting aside, or sends it aside again while other suspects run', () => {
    expect(admit(quorum({ 'x-warren-redeliveries': 1 }), fn(3), calm)).toEqual({ action: 'run', alone: true, group: 1 });
    expect(admit(classic(false, { 'x-warren-redeliveries': 1 }), fn(3, { prefetch: 50 }), calm)).toEqual({ action: 'run', alone: true, group: 50 });
    expect(admit(quorum({ 'x-warren-redeliveries': 2 }), fn(3), isolating)).toEqual({
      action: 'move',
      redeliveries: 2,
      queue: 'q.retry.2s',
      handedBack: false,
    });
  });

  it('dead-letters past redeliveryLimit, counting the broker and the header together', () => {
    expect(admit(quorum({ 'x-delivery-count': 1, 'x-warren-redeliveries': 3 }), fn(3), calm)).toEqual({ action: 'dead', redeliveries: 4, handedBack: true });
    expect(admit(quorum({ 'x-warren-redeliveries': 3 }), fn(2), calm)).toEqual({ action: 'dead', redeliveries: 3, handedBack: false });
    expect(admit(classic(true, { 'x-warren-redeliveries': 3 }), fn(3), calm)).toEqual({ action: 'dead', redeliveries: 4, handedBack: true });
  });

  it('keeps the order of an ordered function: a message handed back runs again in place until the limit', () => {
    // `again`: a batch function runs it in a batch of its own (runtime/replica/batch/ordered-line.ts).
    expect(admit(quorum({ 'x-delivery-count': 1 }), fn(3, { ordered: true }), isolating)).toEqual({ action: 'run', alone: false, again: true });
    expect(admit(quorum({ 'x-delivery-count': 3 }), fn(3, { ordered: true }), calm)).toEqual({ action: 'run', alone: false, again: true });
    expect(admit(quorum({}), fn(3, { ordered: true }), calm)).toEqual({ action: 'run', alone: false });
    // At count limit + 1 Warren dead-letters it: the broker's own limit is a margin above (runtime/topology/plan.ts).
    expect(admit(quorum({ 'x-delivery-count': 4 }), fn(3, { ordered: true }), calm)).toEqual({ action: 'dead', redeliveries: 4, handedBack: true });
  });
});

describe('dropForeignCount', () => {
  it('keeps the count a quorum queue wrote on a redelivery, and drops any other', () => {
    const kept = { 'x-delivery-count': 2 };
    dropForeignCount({ headers: kept, redelivered: true, queueType: 'quorum' });
    expect(kept).toEqual({ 'x-delivery-count': 2 });
    for (const facts of [
      { headers: { 'x-delivery-count': 50, a: 1 }, redelivered: false, queueType: 'quorum' as const },
      { headers: { 'x-delivery-count': 50, a: 1 }, redelivered: false, queueType: 'classic' as const },
    ]) {
      dropForeignCount(facts);
      expect(facts.headers).toEqual({ a: 1 });
      expect(admit(facts, fn(3), calm)).toEqual({ action: 'run', alone: false });
    }
  });
});

describe('groupSize', () => {
  it('runs all that one death handed back together at first, fewer after each death, and alone at the last chance', () => {
    expect([1, 2, 3].map((prior) => groupSize(prior, { redeliveryLimit: 3, prefetch: 50 }))).toEqual([50, 7, 1]);
    expect([1, 2, 3, 4, 5].map((prior) => groupSize(prior, { redeliveryLimit: 5, prefetch: 100 }))).toEqual([100, 31, 10, 3, 1]);
    expect(groupSize(1, { redeliveryLimit: 1, prefetch: 50 })).toBe(1);
    expect(groupSize(1, { redeliveryLimit: 3, prefetch: 1 })).toBe(1);
    expect(groupSize(7, { redeliveryLimit: 3, prefetch: 50 })).toBe(1);
    // A replica died holding it (its reason came with it): one step smaller from the start.
    expect([1, 2].map((prior) => groupSize(prior, { redeliveryLimit: 3, prefetch: 50 }, true))).toEqual([7, 1]);
    expect(admit(quorum({ 'x-warren-redeliveries': 1, 'x-warren-last-death': 'exit code 3' }), fn(2, { prefetch: 20 }), calm)).toEqual({
      action: 'run',
      alone: true,
      group: 1,
    });
  });
});

describe('holdingQueue', () => {
  it('climbs the retry ladder with the count, stops at its top, and uses the back of the queue without retries', () => {
    expect(holdingQueue(fn(5), 1)).toBe('q.retry.1s');
    expect(holdingQueue(fn(5), 2)).toBe('q.retry.2s');
    expect(holdingQueue(fn(5), 5)).toBe('q.retry.2s');
    expect(holdingQueue(fn(5, { attempts: 1 }), 2)).toBe('q');
  });
});

describe('IsolationGate', () => {
  it('reports the keys of the messages it moves aside while they move, so a death meanwhile forgives them', async () => {
    const told: string[][] = [];
    const gate = new IsolationGate(Date.now, undefined, null, undefined, null, undefined, (keys) => told.push([...keys]));
    let finishA!: () => void;
    const a = gate.move(() => new Promise<void>((resolve) => (finishA = resolve)), 'id:a');
    await gate.move(async () => undefined, 'id:b');
    finishA();
    await a;
    // a move without a key (no forgiveness here) is not reported
    await gate.move(async () => undefined);
    expect(told).toEqual([['id:a'], ['id:a', 'id:b'], ['id:a'], []]);
  });

  const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

  it('starts a group of suspects only while another replica of the function takes fresh messages (one replica alone still does)', async () => {
    const buffer = createIsolationBuffer();
    isolationBuffer.setReplicas(buffer, 2);
    const gate = (replica: number) => new IsolationGate(Date.now, undefined, null, undefined, null, undefined, null, new IsolationSlots(buffer, replica));
    const [a, b] = [gate(1), gate(2)];
    expect(a.joinable(1)).toBe(true);
    let finish!: () => void;
    const running = a.run(true, () => new Promise<void>((r) => (finish = r)), { size: 3 });
    // replica 1 runs suspects apart: replica 2 keeps taking fresh messages, its suspect waits aside once more
    expect(b.joinable(1)).toBe(false);
    expect(a.joinable(3)).toBe(true); // its own gathering group still has room
    isolationBuffer.setReplicas(buffer, 3);
    expect(b.joinable(1)).toBe(true);
    isolationBuffer.setReplicas(buffer, 2);
    await tick(60);
    finish();
    await running;
    expect(b.joinable(1)).toBe(true);
    // a replica that died with a group is cleared by the supervisor
    void b.run(true, () => new Promise<void>(() => undefined));
    expect(a.joinable(1)).toBe(false);
    isolationBuffer.gone(buffer, 2);
    expect(a.joinable(1)).toBe(true);
    // one replica: it runs its own suspects
    isolationBuffer.setReplicas(buffer, 1);
    void b.run(true, () => new Promise<void>(() => undefined));
    expect(a.joinable(1)).toBe(true);
  });

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

  it('hands the fresh messages waiting behind suspects back to the queue as the suspects start, so no death of theirs is charged to them', async () => {
    const gate = new IsolationGate();
    const events: string[] = [];
    let finishA!: () => void;
    let finishBack!: () => void;
    gate.arrived();
    const a = gate.run(false, () => new Promise<void>((r) => (finishA = () => (events.push('a done'), r()))));
    gate.arrived();
    const s = gate.run(true, async () => void events.push('suspect runs'));
    gate.arrived();
    const b = gate.run(false, async () => void events.push('b runs'), {
      handBack: () => new Promise<void>((r) => (events.push('b handed back'), (finishBack = () => (events.push('b back in the queue'), r())))),
    });
    await tick(80);
    expect(events).toEqual([]);
    finishA();
    await tick(80);
    // The suspects wait until the copy is in the queue: until then the message is still in this replica's hands.
    expect(events).toEqual(['a done', 'b handed back']);
    finishBack();
    await Promise.all([a, s, b]);
    expect(events).toEqual(['a done', 'b handed back', 'b back in the queue', 'suspect runs']);
    expect(gate.isolating).toBe(false);
  });

  it('holds a suspect while deliveries keep arriving, and starts it once none arrived for 50 ms', async () => {
    const gate = new IsolationGate();
    let startedAt = 0;
    const arrivals = [Date.now()];
    gate.arrived();
    const s = gate.run(true, async () => void (startedAt = Date.now()));
    for (let i = 0; i < 6; i++) {
      await tick(20);
      gate.arrived();
      arrivals.push(Date.now());
    }
    await s;
    // A slow machine may leave a gap of 50 ms between two arrivals: the suspect may start there, never sooner.
    const lastBefore = Math.max(...arrivals.filter((t) => t <= startedAt));
    expect(startedAt - lastBefore).toBeGreaterThanOrEqual(49);
    expect(startedAt - arrivals[0]!).toBeGreaterThan(50);
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
  it('runs the suspects that came back together side by side, apart from fresh ones, and takes none once they started', async () => {
    let flushes = 0;
    const started: number[] = [];
    const gate = new IsolationGate(
      Date.now,
      () => void flushes++,
      null,
      (members) => void started.push(members),
    );
    const events: string[] = [];
    const finish: Array<() => void> = [];
    const suspect = (name: string) => {
      gate.arrived();
      return gate.run(true, () => new Promise<void>((r) => (events.push(`${name} runs`), finish.push(() => (events.push(`${name} done`), r())))), { size: 3 });
    };
    const joined = [suspect('s1'), suspect('s2')];
    expect(gate.joinable(3)).toBe(true);
    // A suspect whose count allows fewer together: the group takes the smaller size.
    expect(gate.joinable(2)).toBe(false);
    gate.arrived();
    const fresh = gate.run(false, async () => void events.push('fresh runs'));
    await tick(200);
    expect(events).toEqual(['s1 runs', 's2 runs']);
    expect(started).toEqual([2]);
    expect(gate.apart).toBe(2);
    expect(gate.joinable(3)).toBe(false);
    const flushesAtStart = flushes;
    finish[0]!();
    await tick();
    // What the first settled is sent before the second may kill the replica.
    expect(flushes).toBe(flushesAtStart + 1);
    expect(events).toEqual(['s1 runs', 's2 runs', 's1 done']);
    finish[1]!();
    await Promise.all([...joined, fresh]);
    expect(events).toEqual(['s1 runs', 's2 runs', 's1 done', 's2 done', 'fresh runs']);
    expect(gate.isolating).toBe(false);
    expect(gate.joinable(1)).toBe(true);
  });
});

describe('forgiven deliveries', () => {
  const delivery = (headers: Record<string, unknown>) =>
    ({ content: Buffer.from('{}'), properties: { messageId: 'good', headers }, fields: { redelivered: true } }) as unknown as Delivery;
  const config = { name: 'f', queue: 'q', redeliveryLimit: 1, prefetch: 5, ordered: false, retry } as unknown as FunctionConfig;

  it('counts one delivery fewer for a message a dead replica held unstarted, once per death, and says which', () => {
    const deliveries = new ForgivenDeliveries();
    const forgave: string[] = [];
    const { admitted } = suspectAdmission({
      fn: config,
      log: { warn: () => undefined },
      queueType: 'quorum',
      forgiven: { deliveries, afterDeath: new AfterDeath(), forgave: (key) => void forgave.push(key), unstarted: () => undefined, runs: () => undefined },
    });
    // Counted twice (once waiting aside, once by the broker), past redeliveryLimit 1: dead-lettered...
    expect(admitted(delivery({ 'x-delivery-count': 1, 'x-warren-redeliveries': 1 })).action).toBe('dead');
    // ...unless the replica that handed it back died before it started: it waits aside at its old count.
    deliveries.add(['id:good']);
    expect(admitted(delivery({ 'x-delivery-count': 1, 'x-warren-redeliveries': 1 }))).toEqual({
      action: 'move',
      redeliveries: 1,
      queue: 'q.retry.1s',
      handedBack: true,
      key: 'id:good',
    });
    expect(forgave).toEqual(['id:good']);
    // One death is forgiven once.
    expect(admitted(delivery({ 'x-delivery-count': 1, 'x-warren-redeliveries': 1 })).action).toBe('dead');
    expect(deliveries.size).toBe(0);
  });

  it('in the replica started in place of one that died, forgives a suspect handed back that did not run there, never one that did, nor a fresh one', () => {
    const afterDeath = new AfterDeath();
    afterDeath.died(['id:bad'], Date.now() + 10_000);
    const runs: string[] = [];
    const { admitted } = suspectAdmission({
      fn: config,
      log: { warn: () => undefined },
      queueType: 'quorum',
      forgiven: { deliveries: new ForgivenDeliveries(), afterDeath, forgave: () => undefined, unstarted: () => undefined, runs: (key) => void runs.push(key) },
    });
    const handed = (id: string, headers: Record<string, unknown>) =>
      ({ content: Buffer.from('{}'), properties: { messageId: id, headers }, fields: { redelivered: true } }) as unknown as Delivery;
    // It had waited aside once, and the dead replica never ran it: it waits aside again at that count.
    expect(admitted(handed('good', { 'x-delivery-count': 1, 'x-warren-redeliveries': 1 }))).toMatchObject({ action: 'move', redeliveries: 1 });
    // It ran there: counted, past the limit.
    expect(admitted(handed('bad', { 'x-delivery-count': 1, 'x-warren-redeliveries': 1 })).action).toBe('dead');
    // Fresh when the replica died: it may be the killer, counted.
    expect(admitted(handed('fresh', { 'x-delivery-count': 1 }))).toMatchObject({ action: 'move', redeliveries: 1 });
    // A suspect admitted to run is named, so a death of this replica counts it.
    expect(admitted(handed('back', { 'x-warren-redeliveries': 1 }))).toMatchObject({ action: 'run', alone: true });
    expect(runs).toEqual(['id:back']);
    // Another death, which this replica may not have heard of before its returns: nothing more is forgiven.
    afterDeath.close();
    expect(admitted(handed('good', { 'x-delivery-count': 1, 'x-warren-redeliveries': 1 })).action).toBe('dead');
  });

  it('keeps a key once per death, for a replica that starts later, and forgets it after a while', () => {
    let now = 0;
    const deliveries = new ForgivenDeliveries(() => now);
    deliveries.add(['a', 'b']);
    deliveries.add(['a']);
    expect(deliveries.list().sort()).toEqual(['a', 'a', 'b']);
    expect(deliveries.take('a')).toBe(true);
    expect(deliveries.list().sort()).toEqual(['a', 'b']);
    now = FORGIVEN_FOR_MS + 1;
    expect(deliveries.take('b')).toBe(false);
    expect(deliveries.list()).toEqual([]);
  });

  it('reports the keys of the suspects gathering to run, and none once they start', async () => {
    const reports: string[][] = [];
    const gate = new IsolationGate(Date.now, undefined, null, undefined, (keys) => void reports.push([...keys]));
    gate.arrived();
    const a = gate.run(true, async () => void reports.push(['a runs']), { size: 2, key: 'id:a' });
    gate.arrived();
    const b = gate.run(true, async () => undefined, { size: 2, key: 'id:b' });
    await Promise.all([a, b]);
    expect(reports).toEqual([['id:a'], ['id:a', 'id:b'], [], ['a runs']]);
  });
});
