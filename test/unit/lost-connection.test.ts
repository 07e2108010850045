/**
 * The messages a replica held when it lost its connection (runtime/replica/lost-connection.ts,
 * runtime/replica-protocol/cleared-keys.ts): which are cleared and when, how they are known again,
 * and that a key clears one delivery, for a while.
 */
import { describe, expect, it } from 'vitest';
import { clearLost, messageKey, RecentDeliveries } from '../../runtime/replica/lost-connection';
import { ClearedKeys, CLEARED_FOR_MS, CLEARED_MAX } from '../../runtime/replica-protocol/cleared-keys';
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
  it('remembers the last twice-the-prefetch deliveries (at least), newest kept', () => {
    const recent = new RecentDeliveries(10);
    const settles = Array.from({ length: 100 }, (_, i) => new Settle(target, i + 1, delivery(String(i))));
    for (const s of settles) recent.add(s);
    const kept = new Set(recent.list());
    expect(kept.size).toBeGreaterThanOrEqual(20);
    expect(kept.size).toBeLessThan(100);
    for (const s of settles.slice(-20)) expect(kept.has(s)).toBe(true);
    expect(kept.has(settles[0]!)).toBe(false);
  });
});

describe('clearLost', () => {
  it('clears the ended deliveries at once and the ones in hand once they end; one that never ends stays a suspect', () => {
    const inFlight = new InFlight();
    const [ended, running, hung] = ['ended', 'running', 'hung'].map((id, i) => new Settle(target, i + 1, delivery(id, id))) as [Settle, Settle, Settle];
    for (const s of [ended, running, hung]) inFlight.add(s);
    inFlight.delete(ended);
    const cleared: string[][] = [];
    expect(clearLost([ended, running, hung, new Settle(target, 9)], (keys) => cleared.push(keys))).toEqual({ now: 1, later: 2 });
    expect(cleared).toEqual([['id:ended']]);
    inFlight.delete(running);
    expect(cleared).toEqual([['id:ended'], ['id:running']]);
    // Ended once more (it cannot be, but the hook is used up): no second report.
    inFlight.add(running);
    inFlight.delete(running);
    expect(cleared).toHaveLength(2);
  });
});

describe('ClearedKeys', () => {
  it('clears a key once, for CLEARED_FOR_MS, and keeps at most CLEARED_MAX keys, the newest', () => {
    let now = 1_000;
    const keys = new ClearedKeys(() => now);
    keys.add(['a', 'b']);
    expect(keys.take('a')).toBe(true);
    expect(keys.take('a')).toBe(false);
    expect(keys.take('zzz')).toBe(false);
    expect(keys.list()).toEqual(['b']);
    now += CLEARED_FOR_MS + 1;
    expect(keys.list()).toEqual([]);
    expect(keys.take('b')).toBe(false);

    keys.add(Array.from({ length: CLEARED_MAX + 10 }, (_, i) => `k${i}`));
    expect(keys.size).toBe(CLEARED_MAX);
    expect(keys.take('k0')).toBe(false);
    expect(keys.take(`k${CLEARED_MAX + 9}`)).toBe(true);
    keys.clear();
    expect(keys.size).toBe(0);
  });
});
