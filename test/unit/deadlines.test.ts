/** Handler timeouts from one FIFO and one timer (runtime/replica/deadlines.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue, type Timed } from '../../runtime/replica/deadlines';

function timed(deadline: number, expired: string[], name: string): Timed {
  return { deadline, finished: false, expire: () => expired.push(name) };
}

describe('DeadlineQueue', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => vi.useRealTimers());
  const advance = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };

  it('expires each running entry once, at its deadline, and never one that finished', () => {
    const q = new DeadlineQueue(() => now);
    const expired: string[] = [];
    const a = timed(100, expired, 'a');
    const b = timed(150, expired, 'b');
    const c = timed(200, expired, 'c');
    q.add(a);
    q.add(b);
    q.add(c);
    q.finish(b);
    advance(99);
    expect(expired).toEqual([]);
    advance(2);
    expect(expired).toEqual(['a']);
    advance(60);
    expect(expired).toEqual(['a']);
    advance(40);
    expect(expired).toEqual(['a', 'c']);
    advance(1_000);
    expect(expired).toEqual(['a', 'c']);
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stays small when a slow run at the front is followed by many fast ones', () => {
    const q = new DeadlineQueue(() => now);
    const expired: string[] = [];
    const slow = timed(30_000, expired, 'slow');
    q.add(slow);
    for (let i = 0; i < 100_000; i++) {
      const fast = timed(30_000, expired, `fast${i}`);
      q.add(fast);
      q.finish(fast);
    }
    expect(q.size).toBe(1);
    expect((q as unknown as { entries: Timed[] }).entries.length).toBeLessThan(1_000);
    advance(30_001);
    expect(expired).toEqual(['slow']);
  });

  it('keeps one timer, unreferenced while nothing runs', () => {
    const q = new DeadlineQueue(() => now);
    const expired: string[] = [];
    for (let i = 0; i < 50; i++) {
      const t = timed(now + 1_000, expired, String(i));
      q.add(t);
      expect(vi.getTimerCount()).toBe(1);
      q.finish(t);
      advance(1);
    }
    expect(expired).toEqual([]);
  });
});
