/**
 * Step 3 of a message's path: run the handler with its timeout. Never throws: whatever the handler
 * does becomes an Outcome (./outcome.ts) for the decision that follows.
 */
import type { Context, Handler } from '../index';
import { isReject } from '../index';
import { LazyAbort } from './lazy-abort';
import type { Outcome } from './outcome';

export interface RunOptions {
  timeoutMs: number;
  /** aborted at shutdown: every running handler's ctx.signal follows it */
  shutdown: AbortSignal;
  /** the ctx for this run, given the run's (lazily made) abort signal */
  context: (abort: LazyAbort) => Context;
  /** the handler outlived its timeout and ignored ctx.signal for STUCK_GRACE_MS */
  onStuck: (reason: string) => void;
}

export const STUCK_GRACE_MS = 1_000;
const TIMED_OUT = Symbol('timed out');

export async function runHandler(handler: Handler, value: unknown, options: RunOptions): Promise<Outcome> {
  const abort = new LazyAbort(options.shutdown);
  const ctx = options.context(abort);
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = handler(value, ctx);
    if (!isThenable(result)) return { kind: 'ok', value: result };
    const settled = await new Promise<{ value: unknown } | typeof TIMED_OUT>((resolve, reject) => {
      timer = setTimeout(() => resolve(TIMED_OUT), options.timeoutMs);
      result.then((value) => resolve({ value }), reject);
    });
    if (settled === TIMED_OUT) {
      abort.abort(new Error(`timed out after ${options.timeoutMs} ms`));
      watchForStuckHandler(result, options.onStuck);
      return { kind: 'error', error: new Error(`handler timed out after ${options.timeoutMs} ms`), timedOut: true };
    }
    return { kind: 'ok', value: settled.value };
  } catch (err) {
    const error = toError(err, 'handler threw a non-error');
    return isReject(err) ? { kind: 'reject', error } : { kind: 'error', error, timedOut: false };
  } finally {
    clearTimeout(timer);
    abort.release();
  }
}

/** A handler that ignores its aborted signal may hold memory or sockets forever: recycle the replica. */
function watchForStuckHandler(running: PromiseLike<unknown>, onStuck: (reason: string) => void): void {
  let finished = false;
  running.then(
    () => (finished = true),
    () => (finished = true),
  );
  setTimeout(() => {
    if (!finished) onStuck(`a handler ignored ctx.signal and is still running ${STUCK_GRACE_MS} ms after its timeout`);
  }, STUCK_GRACE_MS).unref();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Whatever was thrown, as an Error (a thrown plain object keeps its fields). */
export function toError(err: unknown, fallback: string): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'object' && err !== null && 'message' in err) return Object.assign(new Error(String((err as { message: unknown }).message)), err);
  return new Error(err === undefined ? fallback : String(err));
}
