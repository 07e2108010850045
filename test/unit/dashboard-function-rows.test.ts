/** The functions table's filter, sort and totals (runtime/dashboard/function-rows.ts). */
import { describe, expect, it } from 'vitest';
import { BY_NAME, functionRows, nextSort, total } from '../../runtime/dashboard/function-rows';
import type { LiveFunction } from '../../runtime/dashboard/types';

function fn(name: string, figures: Partial<LiveFunction> = {}): LiveFunction {
  return {
    name,
    version: 'v',
    desired: 1,
    running: 1,
    restarts: 0,
    lastError: null,
    inFlight: 0,
    queueDepth: 0,
    deadLetterDepth: 0,
    handled: 0,
    failed: 0,
    inPerSec: 0,
    handledPerSec: 0,
    failedPerSec: 0,
    p50Ms: null,
    p95Ms: null,
    ...figures,
  };
}

const FNS = [
  fn('send-sms', { queueDepth: 900, p95Ms: 240 }),
  fn('charge-card', { failedPerSec: 2, deadLetterDepth: 41 }),
  fn('audit', { queueDepth: null, p95Ms: 3 }),
];

describe('functionRows', () => {
  it('filters by any part of the name, in any case', () => {
    expect(functionRows(FNS, ' CARD ', BY_NAME).map((f) => f.name)).toEqual(['charge-card']);
    expect(functionRows(FNS, 'zzz', BY_NAME)).toEqual([]);
  });

  it('sorts by name, or by a figure largest first with unknown figures last', () => {
    expect(functionRows(FNS, '', BY_NAME).map((f) => f.name)).toEqual(['audit', 'charge-card', 'send-sms']);
    const byQueued = nextSort(BY_NAME, 'queueDepth');
    expect(byQueued).toEqual({ key: 'queueDepth', descending: true });
    expect(functionRows(FNS, '', byQueued).map((f) => f.name)).toEqual(['send-sms', 'charge-card', 'audit']);
    expect(functionRows(FNS, '', nextSort(byQueued, 'queueDepth')).map((f) => f.name)).toEqual(['charge-card', 'send-sms', 'audit']);
    expect(functionRows(FNS, '', { key: 'p95Ms', descending: true }).map((f) => f.name)).toEqual(['send-sms', 'audit', 'charge-card']);
    expect(nextSort(byQueued, 'name')).toEqual(BY_NAME);
  });
});

describe('total', () => {
  it('adds what is known, and is unknown only when nothing is', () => {
    expect(total(FNS, 'queueDepth')).toBe(900);
    expect(total(FNS, 'deadLetterDepth')).toBe(41);
    expect(total([fn('a', { deadLetterDepth: null }), fn('b', { deadLetterDepth: null })], 'deadLetterDepth')).toBeNull();
  });
});
