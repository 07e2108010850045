/**
 * The messages a replica held when it lost its connection (runtime/replica/lost-connection.ts,
 * runtime/replica-protocol/cleared-keys.ts): which are cleared and when, how they are known again,
 * and that a key clears one delivery, for a while; and the grace for the deliveries no replica saw
 * (runtime/replica-protocol/loss-grace.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { createProcessor } from '../../runtime/replica/process';
import { ReplicaStats } from '../../runtime/replica-protocol/stats';
import { functionConfig } from '../testkit/function-config';
import { clearLost, messageKey, RecentDeliveries, RECENT_BODIES_MAX } from '../../runtime/replica/lost-connection';
import { ClearedKeys, CLEARED_FOR_MS, CLEARED_MAX } from '../../runtime/replica-protocol/cleared-keys';
import { GRACE_AFTER_DEATH_MS, GRACE_AFTER_RECONNECT_MS, GRACE_WHILE_DOWN_MS, LossGrace } from '../../runtime/replica-protocol/loss-grace';
import { firstReturn } from '../../runtime/replica/suspects';
import { InFlight, Settle, type Delivery } from '../../runtime/replica/delivery';

const target = { ack: () => undefined, nack: () => undefined };
const delivery = (body: string, messageId?: string): Delivery => ({
  content: Buffer.from(body),
  properties: messageId === undefined ? {} : { messageId },
  fields: { exchange: '', routingKey: 'q', redelivered: false },
});

describe('messageKey', () => {
  it('knows a message by its id, or without one by its body (a copy moved aside has other headers and route)', () => {
    expect(messageKey(delivery('{"a":1}', 'order-7'))).toBe('id:order-7');
    const moved: Delivery = {
      ...delivery('{"a":1}'),
      properties: { headers: { 'x-warren-redeliveries': 1 } },
      fields: { exchange: '', routingKey: 'q.retry.1s', redelivered: false },
    };
    expect(messageKey(moved)).toBe(messageKey(delivery('{"a":1}')));
    expect(messageKey(delivery('{"a":2}'))).not.toBe(messageKey(delivery('{"a":1}')));
    expect(messageKey(delivery('{"a":1}', ''))).toBe(messageKey(delivery('{"a":1}')));
  });
});

describe('RecentDeliveries', () => {
  it('remembers the last deliveries: twice the prefetch, at most 4,096, the newest kept', () => {
    const settles = Array.from({ length: 5_000 }, (_, i) => new Settle(target, i + 1, delivery(String(i))));
    // Twice the prefetch, at most 4,096.
    for (const [prefetch, least] of [
      [10, 20],
      [1_500, 3_000],
      [60_000, 4_096],
    ] as const) {
      const recent = new RecentDeliveries(prefetch);
      for (const s of settles) recent.add(s);
      const kept = new Set(recent.list());
      expect(kept.size).toBeGreaterThanOrEqual(least);
      expect(kept.size).toBeLessThanOrEqual(4_096);
      for (const s of settles.slice(-least)) expect(kept.has(s)).toBe(true);
      expect(kept.has(settles[0]!)).toBe(false);
    }
  });

  it('holds the bodies of small deliveries, and only the key of one that would take the bodies held past RECENT_BODIES_MAX', () => {
    const recent = new RecentDeliveries(10);
    const take = (d: Delivery) => {
      const settle = new Settle(target, 1, recent.known(d));
      recent.add(settle);
      return settle.known;
    };
    const small = delivery('{"a":1}');
    expect(take(small)).toBe(small);
    const half = delivery('x'.repeat(RECENT_BODIES_MAX / 2));
    expect(take(half)).toBe(half);
    const another = delivery('y'.repeat(RECENT_BODIES_MAX / 2));
    expect(take(another)).toBe(messageKey(another));
    const cleared: string[][] = [];
    clearLost(recent.list(), (keys) => cleared.push(keys));
    expect(cleared).toEqual([[messageKey(small), messageKey(half), messageKey(another)]]);
    // The ring comes round: the slots of the large bodies give their bytes back.
    for (let i = 0; i < 32; i++) take(small);
    expect(take(another)).toBe(another);
  });
});

describe('clearLost', () => {
  it('clears the ended deliveries at once and the ones in hand once handled or ended; one never handled stays a suspect', () => {
    const inFlight = new InFlight();
    const ids = ['ended', 'running', 'returned', 'hung', 'confirming'];
    const [ended, running, returned, hung, confirming] = ids.map((id, i) => new Settle(target, i + 1, delivery(id, id))) as [
      Settle,
      Settle,
      Settle,
      Settle,
      Settle,
    ];
    for (const s of [ended, running, returned, hung, confirming]) inFlight.add(s);
    inFlight.delete(ended);
    // Its handler returned before the loss; its output waits for a confirm, so it has not ended.
    confirming.handled();
    const cleared: string[][] = [];
    expect(clearLost([ended, running, returned, hung, confirming, new Settle(target, 9)], (keys) => cleared.push(keys))).toEqual({ now: 2, later: 3 });
    expect(cleared).toEqual([['id:ended', 'id:confirming']]);
    inFlight.delete(running);
    // Its handler returned; its output waits for the next connection, so it has not ended.
    returned.handled();
    expect(cleared).toEqual([['id:ended', 'id:confirming'], ['id:running'], ['id:returned']]);
    // The hook is used up: ending afterwards says nothing more.
    inFlight.delete(returned);
    inFlight.add(running);
    inFlight.delete(running);
    expect(cleared).toHaveLength(3);
  });

  it('is told by the processor as soon as the handler returns, before an output waiting for a connection lets the message end', async () => {
    let release: () => void = () => undefined;
    const processor = createProcessor({
      fn: functionConfig('lost', { output: { exchange: 'done', routingKey: 'x' } }),
      version: 'v1',
      queueType: 'quorum',
      handler: async () => ({ ok: true }),
      validate: null,
      publish: () => new Promise<void>((resolve) => (release = resolve)),
      log: pino({ level: 'silent' }),
      stats: new ReplicaStats(),
      now: () => performance.now(),
      onStuck: () => undefined,
    });
    const settle = new Settle(target, 1, delivery('{}', 'out-1'));
    const cleared: string[][] = [];
    let ended = false;
    processor.take(settle.known as Delivery, settle, () => (ended = true));
    clearLost([settle], (keys) => cleared.push(keys));
    await vi.waitFor(() => expect(cleared).toEqual([['id:out-1']]));
    expect(ended).toBe(false);
    release();
    await vi.waitFor(() => expect(ended).toBe(true));
    expect(cleared).toHaveLength(1);
  });
});

describe('ClearedKeys', () => {
  it('clears a key for CLEARED_FOR_MS, every delivery of it, and keeps at most CLEARED_MAX keys, the newest', () => {
    let now = 1_000;
    const keys = new ClearedKeys(() => now);
    keys.add(['a', 'b']);
    // A message may come back more than once (a copy moved aside, an ack lost with a queue's leader).
    expect([keys.has('a'), keys.has('a')]).toEqual([true, true]);
    expect(keys.has('zzz')).toBe(false);
    expect(keys.list()).toEqual(['a', 'b']);
    now += CLEARED_FOR_MS / 2;
    keys.add(['b']);
    now += CLEARED_FOR_MS / 2 + 1;
    expect(keys.list()).toEqual(['b']);
    expect(keys.has('a')).toBe(false);
    expect(keys.has('b')).toBe(true);

    keys.add(Array.from({ length: CLEARED_MAX + 10 }, (_, i) => `k${i}`));
    expect(keys.size).toBe(CLEARED_MAX);
    expect(keys.has('k0')).toBe(false);
    expect(keys.has(`k${CLEARED_MAX + 9}`)).toBe(true);
    keys.clear();
    expect(keys.size).toBe(0);
  });
});

describe('LossGrace', () => {
  it('lets a first return run fresh for a while after a loss and after the reconnect; a death ends it and keeps it shut for a while', () => {
    let now = 1_000_000;
    const grace = new LossGrace(() => now);
    expect(grace.isOpen()).toBe(false);
    // A reconnect with no loss before it (the first consume) opens nothing.
    expect(grace.reconnected()).toBeNull();

    expect(grace.lost()).toBe(now + GRACE_WHILE_DOWN_MS);
    now += GRACE_WHILE_DOWN_MS - 1;
    expect(grace.isOpen()).toBe(true);
    // Back after nearly a minute: open for GRACE_AFTER_RECONNECT_MS more.
    expect(grace.reconnected()).toBe(now + GRACE_AFTER_RECONNECT_MS);
    now += GRACE_AFTER_RECONNECT_MS;
    expect(grace.isOpen()).toBe(false);
    expect(grace.until).toBe(0);
    // A broker down for longer than a minute: the reconnect still opens it.
    grace.lost();
    now += 5 * GRACE_WHILE_DOWN_MS;
    expect(grace.isOpen()).toBe(false);
    expect(grace.reconnected()).toBe(now + GRACE_AFTER_RECONNECT_MS);

    // A death shuts it at once, and a loss soon after opens nothing (its suspects are still coming back).
    grace.died();
    expect(grace.isOpen()).toBe(false);
    expect(grace.reconnected()).toBeNull();
    now += GRACE_AFTER_DEATH_MS - 1;
    expect(grace.lost()).toBeNull();
    expect(grace.reconnected()).toBeNull();
    now += 1;
    expect(grace.lost()).toBe(now + GRACE_WHILE_DOWN_MS);

    // The supervisor's word extends it, never shortens it.
    expect(grace.extend(now + 1)).toBe(now + GRACE_WHILE_DOWN_MS);
    expect(grace.extend(now + 2 * GRACE_WHILE_DOWN_MS)).toBe(now + 2 * GRACE_WHILE_DOWN_MS);
  });

  it('covers a message handed back once in all, not one counted twice or one back from waiting aside a second time', () => {
    const quorum = (headers: Record<string, unknown> | undefined) => firstReturn({ headers, redelivered: true, queueType: 'quorum' });
    expect(quorum({ 'x-delivery-count': 1 })).toBe(true);
    // moved aside before the grace reached this replica, back from the retry queue
    expect(quorum({ 'x-warren-redeliveries': 1 })).toBe(true);
    expect(quorum({ 'x-delivery-count': 2 })).toBe(false);
    expect(quorum({ 'x-delivery-count': 1, 'x-warren-redeliveries': 1 })).toBe(false);
    expect(quorum(undefined)).toBe(false);
    expect(firstReturn({ headers: undefined, redelivered: true, queueType: 'classic' })).toBe(true);
    expect(firstReturn({ headers: { 'x-warren-redeliveries': 1 }, redelivered: true, queueType: 'classic' })).toBe(false);
  });
});
