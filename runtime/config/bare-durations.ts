/**
 * A duration written as a bare number is milliseconds (`timeout: 30` is 30 ms), as BullMQ reads
 * one; Celery, Lambda and OpenFaaS read seconds. A handler timeout, a retry delay or a batch window
 * under a second written that way is more likely seconds meant than a few milliseconds (every
 * message of a function with `timeout: 30` would time out), so it gets a warning, not an error: a
 * short one may be meant, and `30ms` says so without one.
 */
const DURATION_KEYS: ReadonlyArray<readonly string[]> = [['timeout'], ['retry', 'delay'], ['retry', 'maxDelay'], ['batch', 'window']];

/** Below this, a bare number is warned about. */
const UNDER_MS = 1_000;

export interface BareDuration {
  fn: string;
  /** the key's path under the function: ['retry', 'delay'] */
  key: readonly string[];
  value: number;
}

/** Pure: the bare-number durations under a second in the functions: section as written. */
export function bareDurations(functions: Record<string, unknown>): BareDuration[] {
  const found: BareDuration[] = [];
  for (const [fn, entry] of Object.entries(functions)) {
    for (const key of DURATION_KEYS) {
      let value: unknown = entry;
      for (const segment of key) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[segment] : undefined;
      if (typeof value === 'number' && value > 0 && value < UNDER_MS) found.push({ fn, key, value });
    }
  }
  return found;
}

/** The warning's words after its place (`queues.yaml:4:5 functions.a.timeout:`). */
export function bareDurationWarning({ value }: BareDuration): string {
  return `${value} is read as ${value} ms (a bare number is milliseconds): write \`${value}s\` for seconds, or \`${value}ms\` to keep it and drop this warning`;
}
