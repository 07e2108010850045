/**
 * The dashboard's recent failures of a function: each replica reports its failed attempts to the
 * supervisor (a few a second at most, so a function failing every message does not flood the
 * thread's port: the counts and the logs have them all), and the supervisor keeps the last few.
 */
import type { RecentFailure } from '../admin/wire-types';

/** reports a replica sends in one second at most */
export const REPORTS_PER_SECOND = 5;
/** failures the supervisor keeps per function */
export const RECENT_FAILURES_KEPT = 10;

/** A replica's side: `note` sends a failure on, unless REPORTS_PER_SECOND went out this second already. */
export class FailureReports {
  private second = 0;
  private sent = 0;

  constructor(
    private readonly send: (failure: RecentFailure) => void,
    private readonly now: () => number = Date.now,
  ) {}

  readonly note = (failure: RecentFailure): void => {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.second) [this.second, this.sent] = [second, 0];
    if (this.sent >= REPORTS_PER_SECOND) return;
    this.sent++;
    this.send(failure);
  };
}

/** The supervisor's side, per function: the last RECENT_FAILURES_KEPT, newest first. */
export class RecentFailures {
  private items: RecentFailure[] = [];

  add(failure: RecentFailure): void {
    this.items = [failure, ...this.items].slice(0, RECENT_FAILURES_KEPT);
  }

  list(): RecentFailure[] {
    return this.items;
  }
}
