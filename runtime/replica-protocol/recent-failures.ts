/**
 * The dashboard's recent failures of a function: each replica reports its failed attempts to the
 * supervisor (a few a second at most, so a function failing every message does not flood the
 * thread's port: the counts and the logs have them all), and the supervisor keeps the last few.
 */
import type { RecentFailure } from '../admin/wire-types';

/**
 * reports a replica sends in one second at most, of retried attempts and, apart, of messages it gave
 * up on (dead-lettered or dropped): a storm of retries never hides a dead letter, and a burst no
 * larger than the list shows whole
 */
export const REPORTS_PER_SECOND = 10;
/** failures the supervisor keeps per function */
export const RECENT_FAILURES_KEPT = 10;

/** A replica's side: `note` sends a failure on, unless REPORTS_PER_SECOND of its kind went out this second already. */
export class FailureReports {
  private second = 0;
  private retried = 0;
  private final = 0;

  constructor(
    private readonly send: (failure: RecentFailure) => void,
    private readonly now: () => number = Date.now,
  ) {}

  readonly note = (failure: RecentFailure): void => {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.second) [this.second, this.retried, this.final] = [second, 0, 0];
    if (failure.outcome === 'retried') {
      if (this.retried >= REPORTS_PER_SECOND) return;
      this.retried++;
    } else {
      if (this.final >= REPORTS_PER_SECOND) return;
      this.final++;
    }
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
