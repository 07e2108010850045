/** The replica watchdog (runtime/supervisor/function-runner.ts): when a blocked event loop counts as hung. */
import { describe, expect, it } from 'vitest';
import { HANG_GRACE_MS, isHung, START_GRACE_MS, WATCHDOG_MS } from '../../runtime/supervisor/function-runner';

describe('isHung', () => {
  it('takes a heartbeat silent past the timeout plus the grace for a blocked loop, and a shorter pause for none', () => {
    expect(isHung(1_000, 1_000)).toBe(false);
    expect(isHung(1_000 + HANG_GRACE_MS, 1_000)).toBe(false);
    expect(isHung(1_001 + HANG_GRACE_MS, 1_000)).toBe(true);
    expect(isHung(30_900, 30_000)).toBe(false);
  });

  it('gives a starting replica (a thread booting on a busy machine) more before its silence counts', () => {
    expect(isHung(5_000, 1_000, true)).toBe(false);
    expect(isHung(1_001 + START_GRACE_MS, 1_000, true)).toBe(true);
  });

  it('ends a handler that blocks from its start within its timeout + 2 s', () => {
    // The last beat came before the handler started, so the silence is at least the time it blocked;
    // the watchdog sees it past timeout + grace within one look.
    expect(HANG_GRACE_MS + WATCHDOG_MS).toBeLessThanOrEqual(2_000);
  });
});
