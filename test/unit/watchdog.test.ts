/** The replica watchdog (runtime/supervisor/function-runner.ts): when a blocked event loop counts as hung. */
import { describe, expect, it } from 'vitest';
import { HANG_GRACE_MS, isHung, WATCHDOG_MS } from '../../runtime/supervisor/function-runner';

describe('isHung', () => {
  it('takes a heartbeat silent past the timeout plus the grace for a blocked loop, and a shorter pause for none', () => {
    expect(isHung(1_000, 1_000)).toBe(false);
    expect(isHung(1_000 + HANG_GRACE_MS, 1_000)).toBe(false);
    expect(isHung(1_001 + HANG_GRACE_MS, 1_000)).toBe(true);
    expect(isHung(30_900, 30_000)).toBe(false);
  });

  it('ends a handler that blocks from its start within its timeout + 2 s (grace, one watchdog look, one heartbeat)', () => {
    const HEARTBEAT_MS = 200;
    expect(HANG_GRACE_MS + WATCHDOG_MS + HEARTBEAT_MS).toBeLessThanOrEqual(2_000);
  });
});
