/**
 * Step 3 of a message's path: run the handler with its timeout. Never throws: whatever the handler
 * does becomes an Outcome (./outcome.ts) for the decision that follows.
 *
 * `startHandler` is the replica's form: the outcome goes to a callback, so a message costs one
 * promise reaction on the handler's promise and no timer of its own (./deadlines.ts).
 * `runHandler` is the same as a promise, for callers that await (a batch, `warren invoke`).
 */
import { inspect } from 'node:util';
import type { Context, Handler } from '../index';
import { isReject } from '../index';
import { deadlinesFor, type DeadlineQueue, type Timed } from './deadlines';
import { LazyAbort } from './lazy-abort';
import type { Outcome } from './outcome';
import { noteAsStack, refusal } from './refusal';

export interface HandlerOptions {
  timeoutMs: number;
  /** aborted at shutdown: every running handler's ctx.signal follows it */
  shutdown: AbortSignal;
  /** the handler outlived its timeout and ignored ctx.signal for STUCK_GRACE_MS */
  onStuck: (reason: string) => void;
}

/** One call of a handler: its ctx, and where its outcome goes. */
export interface HandlerCall {
  /** the ctx for this run, given the run's (lazily made) abort signal */
  context(abort: LazyAbort): Context;
  /** called exactly once */
  done(outcome: Outcome): void;
}

export interface RunOptions extends HandlerOptions {
  context: HandlerCall['context'];
}

export const STUCK_GRACE_MS = 1_000;

/** One run of a handler that returned a promise: it ends at the promise's settlement or at the deadline, whichever comes first. */
class PendingRun implements Timed {
  deadline: number;
  finished = false;

  constructor(
    private readonly running: PromiseLike<unknown>,
    private readonly abort: LazyAbort,
    private readonly options: HandlerOptions,
    private readonly queue: DeadlineQueue,
    private readonly call: HandlerCall,
    startedAt: number,
  ) {
    this.deadline = startedAt + options.timeoutMs;
    queue.add(this);
    try {
      running.then(
        (value) => this.end({ kind: 'ok', value }),
        (err: unknown) => this.end(thrown(err)),
      );
    } catch (err) {
      // A thenable whose `then` throws: the handler failed.
      this.end(thrown(err));
    }
  }

  private end(outcome: Outcome): void {
    if (this.finished) return; // timed out before
    this.queue.finish(this);
    this.abort.release();
    this.call.done(outcome);
  }

  expire(): void {
    const { timeoutMs } = this.options;
    this.abort.abort(new Error(`timed out after ${timeoutMs} ms`));
    this.abort.release();
    watchForStuckHandler(this.running, this.options.onStuck);
    this.call.done({
      kind: 'error',
      error: refusal(`handler timed out after ${timeoutMs} ms`, 'Warren stopped waiting for the handler at its timeout'),
      timedOut: true,
    });
  }
}

/**
 * Runs the handler; `call.done` gets the outcome, synchronously when the handler returned a plain value or threw.
 * `startedAt` (performance.now()) is when the timeout starts: a caller that has just read the clock passes it.
 */
export function startHandler(handler: Handler, value: unknown, options: HandlerOptions, call: HandlerCall, startedAt?: number): void {
  const abort = new LazyAbort(options.shutdown);
  let result: unknown;
  try {
    result = handler(value, call.context(abort));
  } catch (err) {
    abort.release();
    return call.done(thrown(err));
  }
  let thenable: boolean;
  try {
    thenable = isThenable(result);
  } catch (err) {
    // A result whose `then` getter throws: the handler failed (it was requeued over and over before).
    abort.release();
    return call.done(thrown(err));
  }
  if (!thenable) {
    abort.release();
    return call.done({ kind: 'ok', value: result });
  }
  new PendingRun(result as PromiseLike<unknown>, abort, options, deadlinesFor(options.timeoutMs), call, startedAt ?? performance.now());
}

export function runHandler(handler: Handler, value: unknown, options: RunOptions): Promise<Outcome> {
  return new Promise((resolve) => startHandler(handler, value, options, { context: options.context, done: resolve }));
}

function thrown(err: unknown): Outcome {
  const error = toError(err, 'the handler threw');
  if (!isReject(err)) return { kind: 'error', error, timedOut: false };
  // `throw new Reject()`: the dead letter and the log say what happened, not an empty message.
  if (error.message === '') error.message = 'rejected by the handler, with no reason given';
  return { kind: 'reject', error };
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

/**
 * Whatever was thrown, as an Error: a thrown string is its message, a plain object keeps its fields
 * and its `message`, anything else is shown as Node shows it. Made here, its stack would be Warren's
 * frames: it says instead that there is none, and how to get one.
 */
export function toError(err: unknown, fallback: string): Error {
  try {
    if (err instanceof Error) {
      if (!readable(err)) return copyOfError(err, fallback);
      // A Reject with no reason keeps its empty message: `thrown` says it was rejected with none given.
      return String(err.message ?? '').trim() || isReject(err) ? err : named(err);
    }
    return asError(err, fallback);
  } catch {
    // A getter that throws, a proxy: nothing of it can be read safely.
    const error = new Error(`${fallback}: a value that could not be read`);
    error.stack = noteAsStack(error.message, 'reading what was thrown threw in turn: throw new Error(…) to get a message and a stack');
    return error;
  }
}

/**
 * An Error every part of which reads: its message, name and stack (a stack is formatted when first
 * read, and a Symbol message makes that throw) and its own fields (the log and the dead letter read
 * them all). One that throws would throw again where Warren logs it or writes its dead letter.
 */
function readable(err: Error): boolean {
  try {
    for (const value of [err.message, err.name, err.stack]) if (value !== undefined) String(value);
    for (const key of Object.keys(err)) void (err as unknown as Record<string, unknown>)[key];
    return true;
  } catch {
    return false;
  }
}

/**
 * An Error thrown with no message (`throw new Error()`, a class that calls `super()`): its name is
 * what says what went wrong, so it becomes the message; the dead letter, the log and /functions
 * showed "{}" or nothing. Its own fields and its stack are kept.
 */
function named(err: Error): Error {
  const name = typeof err.name === 'string' && err.name.trim() ? err.name : 'Error';
  const error = Object.assign(new Error(`${name} (thrown with no message)`), err);
  error.name = name;
  if (typeof err.stack === 'string') error.stack = err.stack;
  return error;
}

/** A plain Error with what of `err` reads. */
function copyOfError(err: Error, fallback: string): Error {
  const read = (key: 'message' | 'name' | 'stack'): string | undefined => {
    try {
      const value = err[key];
      return typeof value === 'string' ? value : undefined;
    } catch {
      return undefined;
    }
  };
  const message = read('message') || `${fallback}: an Error whose message could not be read`;
  const error = new Error(message);
  const name = read('name');
  if (name) error.name = name;
  error.stack = read('stack') ?? noteAsStack(message, 'reading its stack threw: the error was changed after it was made');
  return error;
}

function asError(err: unknown, fallback: string): Error {
  const withMessage = typeof err === 'object' && err !== null && 'message' in err;
  const own = withMessage ? String((err as { message: unknown }).message) : typeof err === 'string' ? err : '';
  // Nothing to read in it (an empty string or message, null, a number): say what was thrown.
  const message = own.trim() ? own : `${fallback}: ${inspect(err, { depth: 2, breakLength: Infinity })}`;
  const error = withMessage ? Object.assign(new Error(message), err) : new Error(message);
  if (!withMessage || !('stack' in err)) {
    const what = err === null || err === undefined ? String(err) : Array.isArray(err) ? 'an array' : typeof err === 'object' ? 'an object' : `a ${typeof err}`;
    error.stack = noteAsStack(message, `${what} was thrown, not an Error, so there is no stack: throw new Error(…) to get one`);
  }
  return error;
}
