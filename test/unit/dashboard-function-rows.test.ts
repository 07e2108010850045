/** The functions table's filter, sort and totals (runtime/dashboard/function-rows.ts). */
import { describe, expect, it } from 'vitest';
import { BY_NAME, functionRows, healthOf, healthTitle, nextSort, total } from '../../runtime/dashboard/function-rows';
import { liveFunctionOf } from '../testkit/live-function';

const fn = liveFunctionOf;

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

  it('sorts by replicas with the most missing first', () => {
    const fns = [fn('full', { desired: 2, running: 2 }), fn('down', { desired: 3, running: 0 }), fn('short', { desired: 2, running: 1 })];
    expect(functionRows(fns, '', nextSort(BY_NAME, 'replicas')).map((f) => f.name)).toEqual(['down', 'short', 'full']);
  });
});

describe('total', () => {
  it('adds what is known, and is unknown only when nothing is', () => {
    expect(total(FNS, 'queueDepth')).toBe(900);
    expect(total(FNS, 'deadLetterDepth')).toBe(41);
    expect(total([fn('a', { deadLetterDepth: null }), fn('b', { deadLetterDepth: null })], 'deadLetterDepth')).toBeNull();
  });
});

describe('healthOf', () => {
  it('is unknown while the runtime does not answer, whatever its last figures said', () => {
    expect(healthOf(fn('a', { running: 2, desired: 2 }))).toBe('up');
    expect(healthOf(fn('a', { running: 1, desired: 2 }))).toBe('degraded');
    expect(healthOf(fn('a', { running: 0, desired: 0 }))).toBe('stopped');
    expect(healthOf(fn('a', { running: 2, desired: 2 }), false)).toBe('unknown');
    expect(healthTitle('unknown')).toBe('unknown: the runtime does not answer');
  });
});
