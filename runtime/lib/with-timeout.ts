/**
 * `promise`, or a rejection once `ms` have passed without it settling: with `late()`'s error, or
 * "no answer within N ms". The timer is cleared either way.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, late?: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(late?.() ?? new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e)),
    );
  });
}
