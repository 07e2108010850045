/**
 * `warren invoke`'s worker thread (dist/invoke.js): loads one handler bundle and runs it on one
 * message, as a replica's thread would, while the command's main thread watches (./invoke.ts). In a
 * thread of its own, a handler that blocks its event loop can be ended at its timeout, and one that
 * calls process.exit ends only this thread, as it would end only its replica.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FunctionConfig } from '../config/types';
import type { BatchHandler } from '../index';
import { WarrenError } from '../errors';
import { loadHandler } from '../functions/load';
import { createLogger } from '../log';
import { compileMessageSchema } from '../replica/schema';
import { attemptMessage } from '../replica/attempt';
import { decideSettlement, type Outcome, type Settlement } from '../replica/outcome';
import type { Delivery } from '../replica/delivery';
import type { Publish } from '../replica/handler-context';
import { forwardOf } from '../delay/ladder';
import { encodeBody } from '../replica/encode-body';
import { internalExchangeError } from '../replica/publish-target';
import { invokeBatch, type InvokedItem } from './invoke-batch';

export interface InvokeInit {
  fn: FunctionConfig;
  bundleFile: string;
  message: unknown;
  logLevel: string;
  /** where the message seems to come from (`--exchange`, `--routing-key`, `--header`) */
  envelope?: InvokeEnvelope;
  /** exchanges queues.yaml marks `internal`: a replica's publish to one fails, so it does here */
  internalExchanges?: string[];
}

/** What `ctx.exchange`, `ctx.routingKey` and `ctx.headers` say in a local run; default: the function's queue through the default exchange. */
export interface InvokeEnvelope {
  exchange?: string;
  routingKey?: string;
  headers?: Record<string, string | string[]>;
}

/** A publish as the handler wrote it: a delayed one names its own exchange, not the ladder's. */
export interface InvokedPublish {
  exchange: string;
  routingKey: string;
  body: unknown;
  delayMs?: number;
}

export type FromInvoke =
  /** the handler is about to run (a batch's items, again alone after its call timed out): its timeout counts from here */
  | { type: 'started' }
  | { type: 'publish'; publish: InvokedPublish }
  | { type: 'settled'; outcome: Outcome; settlement: Settlement }
  | { type: 'settled-batch'; items: InvokedItem[] }
  /** the bundle or the schema could not be loaded: Warren's own error (rebuilt on the other side), or any other */
  | { type: 'refused'; code: WarrenError['code']; message: string; details: WarrenError['details'] }
  | { type: 'failed'; error: unknown };

const init = workerData as InvokeInit;
const port = parentPort!;
const send = (message: FromInvoke) => port.postMessage(message);

const log = createLogger({ level: init.logLevel, base: { function: init.fn.name }, sync: true });
const publish: Publish = async (target, body, { routingKey, properties, delayMs }) => {
  // What a replica's publisher cannot encode fails here too, with its error.
  encodeBody(body);
  const forward = delayMs === undefined ? null : forwardOf(properties?.headers);
  const to = forward ? forward.exchange : target.kind === 'exchange' ? target.name : '';
  if (init.internalExchanges?.includes(to)) throw internalExchangeError(to);
  const shown: InvokedPublish = forward
    ? { exchange: forward.exchange, routingKey: forward.routingKey, body: cloneable(body), delayMs: delayMs! }
    : target.kind === 'exchange'
      ? { exchange: target.name, routingKey: routingKey ?? '', body: cloneable(body) }
      : { exchange: '', routingKey: target.name, body: cloneable(body) };
  send({ type: 'publish', publish: shown });
};

try {
  const { fn } = init;
  const handler = await loadHandler(init.bundleFile, fn.file);
  const validate = fn.schema ? await compileMessageSchema(fn.schema) : null;
  const shutdown = new AbortController().signal;
  const onStuck = (reason: string) => log.warn({ reason }, 'a replica would be recycled');
  send({ type: 'started' });
  if (fn.batch) {
    const items = await invokeBatch(fn, handler as unknown as BatchHandler, init.message as unknown[], {
      validate,
      publish,
      log,
      asDelivery: (m) => asDelivery(m, fn.queue, init.envelope),
      runningAgain: () => send({ type: 'started' }),
    });
    send({ type: 'settled-batch', items });
  } else {
    const attempt = 1;
    const ran = await attemptMessage(asDelivery(init.message, fn.queue, init.envelope), attempt, { fn, handler, validate, publish, log, shutdown, onStuck });
    const outcome: Outcome = ran.kind === 'ok' ? (outputRefused(fn, ran.value) ?? { kind: 'ok', value: cloneable(ran.value) }) : ran;
    send({ type: 'settled', outcome, settlement: decideSettlement(fn, attempt, outcome) });
  }
} catch (err) {
  if (err instanceof WarrenError) {
    const { cause: _cause, ...details } = err.details;
    send({ type: 'refused', code: err.code, message: err.message, details });
  } else {
    send({ type: 'failed', error: err });
  }
}
// Whatever the handler left running (a timer, a socket, a handler past its timeout that ignores
// ctx.signal) ends with the thread; ending it from here, not from the main thread, lets what it
// wrote to stdout arrive first.
process.exit(0);

/** The message as a producer would have sent it to the function's queue (default exchange, routing key `queue`): a string as text, anything else as JSON. */
function asDelivery(message: unknown, queue: string, envelope: InvokeEnvelope = {}): Delivery {
  const text = typeof message === 'string';
  return {
    content: Buffer.from(text ? message : JSON.stringify(message)),
    properties: { contentType: text ? 'text/plain' : 'application/json', messageId: 'invoke', headers: { ...envelope.headers } },
    fields: { exchange: envelope.exchange ?? '', routingKey: envelope.routingKey ?? queue, redelivered: false },
  };
}

/**
 * A replica publishes a returned value to `output` before the ack; one it cannot encode fails the
 * attempt (runtime/replica/carry-out.ts), so it is retried, then dead-lettered with that error.
 */
function outputRefused(fn: FunctionConfig, value: unknown): Outcome | null {
  if (!fn.output || value === undefined) return null;
  try {
    encodeBody(value);
    return null;
  } catch (err) {
    return { kind: 'error', error: err as Error, timedOut: false };
  }
}

/** A value that can cross to the main thread: as it is, or as the JSON a replica would publish. */
function cloneable(value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch {
    try {
      return JSON.parse(JSON.stringify(value)) as unknown;
    } catch {
      return String(value);
    }
  }
}
