/** One function as the dashboard's live frames carry it: idle figures, with the ones a test sets. */
import type { LiveFunction } from '../../runtime/dashboard/types';

export function liveFunctionOf(name: string, figures: Partial<LiveFunction> = {}): LiveFunction {
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
    retryDepth: 0,
    handled: 0,
    failed: 0,
    inPerSec: 0,
    handledPerSec: 0,
    failedPerSec: 0,
    retriedPerSec: 0,
    p50Ms: null,
    p95Ms: null,
    setup: null,
    recentFailures: [],
    ...figures,
  };
}
