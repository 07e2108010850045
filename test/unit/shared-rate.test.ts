import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRateBuffer, SAFETY_MS, SharedRate } from '../../runtime/ratelimit/shared-rate';

/** Start times of every reservation, as `[time, items]`, for arrivals at the given times. */
function schedule(count: number, periodMs: number, arrivals: Array<[number, number]>, late: (i: number) => number = () => 0): Array<[number, number]> {
  const rate = new SharedRate(createRateBuffer(count), count, periodMs);
  const woken = arrivals.map(([at, n], i): [number, number, number] => [at + rate.reserve(n, at) + late(i), n, i]);
  // admissions happen in the order the timers fire
  woken.sort((a, b) => a[0] - b[0]);
  let clock = 0;
  return woken.map(([t, n]) => {
    clock = Math.max(clock, t);
    for (let wait = rate.admit(n, clock); wait > 0; wait = rate.admit(n, clock)) clock += wait;
    return [clock, n];
  });
}

function maxInWindow(starts: Array<[number, number]>, periodMs: number): number {
  const sorted = [...starts].sort((a, b) => a[0] - b[0]);
  let max = 0;
  for (let i = 0; i < sorted.length; i++) {
    let sum = 0;
    for (let j = i; j < sorted.length && sorted[j]![0] < sorted[i]![0] + periodMs; j++) sum += sorted[j]![1];
    max = Math.max(max, sum);
  }
  return max;
}

describe('SharedRate', () => {
  it('paces 1,000 messages arriving at once at 100/s over about 10 s, never more than 100 in a second', () => {
    const starts = schedule(
      100,
      1_000,
      Array.from({ length: 1_000 }, () => [0, 1]),
    );
    expect(maxInWindow(starts, 1_000)).toBeLessThanOrEqual(100);
    const last = Math.max(...starts.map(([t]) => t));
    expect(last).toBeGreaterThan(9_900);
    expect(last).toBeLessThan(10_300);
  });

  it('holds the limit by real start times when timers fire late or early', () => {
    const starts = schedule(
      100,
      1_000,
      Array.from({ length: 500 }, () => [0, 1]),
      (i) => ((i * 37) % 61) - 20,
    );
    expect(maxInWindow(starts, 1_000)).toBeLessThanOrEqual(100);
  });

  it('keeps batches of any sizes within the limit in every window (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 1, max: 50 })), { minLength: 1, maxLength: 200 }),
        (count, raw) => {
          const arrivals = raw.map(([t, n]) => [t, Math.min(n, count)] as [number, number]).sort((a, b) => a[0] - b[0]);
          expect(maxInWindow(schedule(count, 1_000, arrivals), 1_000)).toBeLessThanOrEqual(count);
        },
      ),
    );
  });

  it('lets a message start at once when the rate is not used', () => {
    const rate = new SharedRate(createRateBuffer(10), 10, 60_000);
    expect(rate.reserve(1, 1_000)).toBe(0);
    expect(rate.reserve(1, 1_000)).toBe(6_000);
    expect(rate.admit(1, 1_000)).toBe(0);
    expect(rate.admit(10, 1_000)).toBe(60_000 + SAFETY_MS);
  });

  it('gives a turn cancelled before it came back to the pacing, and never starts it', () => {
    const rate = new SharedRate(createRateBuffer(10), 10, 60_000);
    const started: string[] = [];
    const first = rate.turn(1, () => started.push('first'));
    const second = rate.turn(1, () => started.push('second'));
    expect(started).toEqual(['first']);
    expect(first()).toBe(false); // started: nothing to give up
    expect(second()).toBe(true);
    expect(second()).toBe(false);
    // The next message takes the slot the cancelled turn gave up (6 s after the first), not the one after it.
    const wait = rate.reserve(1);
    expect(wait).toBeGreaterThan(5_000);
    expect(wait).toBeLessThanOrEqual(6_000);
    expect(started).toEqual(['first']);
  });
});
