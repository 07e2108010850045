/**
 * Steps 2 and 3 together (decode and validate, then run the handler): one attempt at a message,
 * ending in an Outcome. A replica (./process.ts) and `warren invoke` (runtime/cli/invoke.ts) both
 * run exactly this, so invoke shows what a replica would do.
 */
import type { Logger } from 'pino';
import type { FunctionConfig } from '../config/types';
import type { Handler } from '../index';
import type { Delivery } from './delivery';
import { makeContext, type Publish } from './handler-context';
import type { Outcome } from './outcome';
import { readMessage, type Validate } from './read-message';
import { runHandler } from './run-handler';

export interface AttemptDeps {
  fn: Pick<FunctionConfig, 'name' | 'maxBodyBytes' | 'timeout'>;
  handler: Handler;
  validate: Validate;
  publish: Publish;
  log: Logger;
  shutdown: AbortSignal;
  onStuck: (reason: string) => void;
  /** resolves when the message may start (rateLimit); absent: at once */
  waitTurn?: (n: number) => Promise<void>;
}

/** Not `async`: on the hot path each async layer is one more promise job per message. */
export function attemptMessage(delivery: Delivery, attempt: number, deps: AttemptDeps): Promise<Outcome> {
  const read = readMessage(delivery.content, delivery.properties.contentType, deps.fn, deps.validate);
  if (!read.ok) return Promise.resolve(read.outcome);
  if (deps.waitTurn) return deps.waitTurn(1).then(() => run(delivery, attempt, read.value, deps));
  return run(delivery, attempt, read.value, deps);
}

function run(delivery: Delivery, attempt: number, value: unknown, deps: AttemptDeps): Promise<Outcome> {
  return runHandler(deps.handler, value, {
    timeoutMs: deps.fn.timeout,
    shutdown: deps.shutdown,
    context: (abort) => makeContext(delivery, attempt, abort, { functionName: deps.fn.name, log: deps.log, publish: deps.publish }),
    onStuck: deps.onStuck,
  });
}
