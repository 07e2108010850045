/** The dashboard's recent failures: a replica reports a few a second at most, the supervisor keeps the last few, newest first. */
import { describe, expect, it } from 'vitest';
import { FailureReports, RecentFailures, RECENT_FAILURES_KEPT, REPORTS_PER_SECOND } from '../../runtime/replica-protocol/recent-failures';
import type { RecentFailure } from '../../runtime/admin/wire-types';

const failure = (n: number, outcome: RecentFailure['outcome'] = 'retried'): RecentFailure => ({
  at: new Date(n).toISOString(),
  messageId: `m${n}`,
  attempt: 1,
  outcome,
  error: `boom ${n}`,
});

describe('recent failures', () => {
  it('sends at most REPORTS_PER_SECOND a second from a replica, and again in the next second', () => {
    let now = 10_000;
    const sent: string[] = [];
    const reports = new FailureReports(
      (f) => sent.push(f.messageId!),
      () => now,
    );
    for (let i = 0; i < 20; i++) reports.note(failure(i));
    expect(sent).toHaveLength(REPORTS_PER_SECOND);
    now += 999;
    reports.note(failure(100));
    expect(sent).toHaveLength(REPORTS_PER_SECOND);
    now += 1;
    reports.note(failure(101));
    expect(sent.at(-1)).toBe('m101');
  });

  it('counts the messages given up on apart from the retries: a storm of retries does not hide a dead letter', () => {
    const sent: string[] = [];
    const reports = new FailureReports(
      (f) => sent.push(`${f.outcome} ${f.messageId}`),
      () => 10_000,
    );
    for (let i = 0; i < 30; i++) reports.note(failure(i));
    for (let i = 30; i < 33; i++) reports.note(failure(i, 'dead'));
    reports.note(failure(33, 'dropped'));
    expect(sent.filter((s) => s.startsWith('retried'))).toHaveLength(REPORTS_PER_SECOND);
    expect(sent.filter((s) => !s.startsWith('retried'))).toEqual(['dead m30', 'dead m31', 'dead m32', 'dropped m33']);
  });

  it('lists a burst of ten failures within one second whole, newest first', () => {
    const recent = new RecentFailures();
    const reports = new FailureReports(
      (f) => recent.add(f),
      () => 10_000,
    );
    // Eight messages failing at once: each retried once, then four of them dead-lettered.
    for (let i = 0; i < 6; i++) reports.note(failure(i));
    for (let i = 6; i < 10; i++) reports.note(failure(i, 'dead'));
    expect(recent.list().map((f) => f.messageId)).toEqual(['m9', 'm8', 'm7', 'm6', 'm5', 'm4', 'm3', 'm2', 'm1', 'm0']);
  });

  it('keeps the last RECENT_FAILURES_KEPT, newest first', () => {
    const recent = new RecentFailures();
    for (let i = 0; i < RECENT_FAILURES_KEPT + 3; i++) recent.add(failure(i));
    const ids = recent.list().map((f) => f.messageId);
    expect(ids).toHaveLength(RECENT_FAILURES_KEPT);
    expect(ids[0]).toBe(`m${RECENT_FAILURES_KEPT + 2}`);
    expect(ids.at(-1)).toBe('m3');
  });
});
