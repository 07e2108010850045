/** A scheduled tick's outcome, reported by the replica that handled it (for /functions and `status`). */
export const SCHEDULED_AT_HEADER = 'x-warren-scheduled-at';

export interface TickOutcome {
  /** ISO time of the tick */
  scheduledAt: string;
  /** what the replica did with it: acked, retried, dead, dropped */
  outcome: string;
  /** when it was settled (ISO) */
  at: string;
}

/** The tick a message stands for, when it is a scheduled function's tick. */
export function scheduledAtOf(headers: Record<string, unknown> | undefined): string | undefined {
  const value = headers?.[SCHEDULED_AT_HEADER];
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
}
