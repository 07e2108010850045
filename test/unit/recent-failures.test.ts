/** The dashboard's recent failures: a replica reports a few a second at most, the supervisor keeps the last few, newest first. */
import { describe, expect, it } from 'vitest';
import { FailureReports, RecentFailures, RECENT_FAILURES_KEPT, REPORTS_PER_SECOND } from '../../runtime/replica-protocol/recent-failures';
import type { RecentFailure } from '../../runtime/admin/wire-types';

const failure = (n: number): RecentFailure => ({ at: new Date(n).toISOString(), messageId: `m${n}`, attempt: 1, outcome: 'retried', error: `boom ${n}` });

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

  it('keeps the last RECENT_FAILURES_KEPT, newest first', () => {
    const recent = new RecentFailures();
    for (let i = 0; i < RECENT_FAILURES_KEPT + 3; i++) recent.add(failure(i));
    const ids = recent.list().map((f) => f.messageId);
    expect(ids).toHaveLength(RECENT_FAILURES_KEPT);
    expect(ids[0]).toBe(`m${RECENT_FAILURES_KEPT + 2}`);
    expect(ids.at(-1)).toBe('m3');
  });
});
