/**
 * Steps 2 and 3 together (decode and validate, then run the handler): one attempt at a message,
 * ending in an Outcome. A replica (./process.ts, `startAttempt`) and `warren invoke`
 * (runtime/cli/invoke.ts, `attemptMessage`) both run exactly this, so invoke shows what a replica would do.
 */
import type { Logger } from 'pino';
import type { FunctionConfig } from '../config/types';
import type { Handler } from '../index';
import type { Delivery } from './delivery';
import { makeContext, type Publish } from './handler-context';
import type { Outcome } from './outcome';
import { readMessage, type Validate } from './read-message';
import { startHandler, type HandlerCall, type HandlerOptions } from './run-handler';

export interface AttemptDeps {
  fn: Pick<FunctionConfig, 'name' | 'maxBodyBytes' | 'timeout'>;
  handler: Handler;
  validate: Validate;
  publish: Publish;
  log: Logger;
  shutdown: AbortSignal;
  onStuck: (reason: string) => void;
  /**
   * calls `start` when the message may start (rateLimit), in the step that counts it, or `handBack`
   * instead when the replica drains first (./waiting-turns.ts); absent: at once
   */
  waitTurn?: (n: number, start: () => void, handBack: () => void) => void;
}

/** One attempt's call; `handBack` is needed with `waitTurn`: the message goes back to the broker unstarted, `done` is not called. */
export interface AttemptCall extends HandlerCall {
  handBack?(): void;
  /**
   * When its turn comes: true when the broker has the message back already (its channel is gone):
   * it is not started, `done` is not called, and the call has ended it itself.
   */
  gone?(): boolean;
}

/** The handler options of `deps`, made once per replica (or per invoke). */
export function handlerOptions(deps: AttemptDeps): HandlerOptions {
  return { timeoutMs: deps.fn.timeout, shutdown: deps.shutdown, onStuck: deps.onStuck };
}

/**
 * The replica's form: `call.done` gets the outcome (synchronously when the message never reaches the
 * handler, or the handler is synchronous), `call.context` makes the ctx. No promise of its own.
 * `startedAt`: the caller's performance.now() of this moment, when it has one (the timeout counts from
 * it, unless the message waits for its turn under a rate limit: then from its turn).
 */
export function startAttempt(delivery: Delivery, deps: AttemptDeps, options: HandlerOptions, call: AttemptCall, startedAt?: number): void {
  const read = readMessage(delivery.content, delivery.properties.contentType, deps.fn, deps.validate, delivery.properties.contentEncoding);
  if (!read.ok) return call.done(read.outcome);
  if (!deps.waitTurn) return startHandler(deps.handler, read.value, options, call, startedAt);
  // The handler's first line runs in the same step as its admission: the rate limit counts real starts.
  deps.waitTurn(
    1,
    () => {
      if (!call.gone?.()) startHandler(deps.handler, read.value, options, call);
    },
    () => call.handBack?.(),
  );
}

/** `warren invoke`'s form, as a promise. */
export function attemptMessage(delivery: Delivery, attempt: number, deps: AttemptDeps): Promise<Outcome> {
  const context = { functionName: deps.fn.name, log: deps.log, publish: deps.publish };
  return new Promise((resolve) =>
    startAttempt(delivery, deps, handlerOptions(deps), { context: (abort) => makeContext(delivery, attempt, abort, context), done: resolve }),
  );
}
