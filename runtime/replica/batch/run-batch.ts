/**
 * Step 3 for a batch: one handler call over the items, with the function's timeout covering the
 * whole batch. Never throws: like ../run-handler.ts it ends in one Outcome, which ./item-outcomes.ts
 * turns into one Outcome per item (a timeout of several items: ./process-batch.ts calls this again for
 * each item alone).
 */
import type { Logger } from 'pino';
import type { BatchContext, BatchHandler, BatchItem, Context, Handler } from '../../index';
import type { Delivery } from '../delivery';
import { originalRoute, visibleHeaders } from '../headers';
import { amqpProperties } from '../amqp-properties';
import { publishFromHandler, type Publish } from '../handler-context';
import type { Outcome } from '../outcome';
import { runHandler } from '../run-handler';

export interface BatchRunDeps {
  fn: { name: string; timeout: number };
  handler: BatchHandler;
  publish: Publish;
  log: Logger;
  shutdown: AbortSignal;
  onStuck: (reason: string) => void;
}

export interface Decoded {
  delivery: Delivery;
  attempt: number;
  value: unknown;
}

export function toBatchItem({ delivery, attempt, value }: Decoded): BatchItem {
  const { properties, fields, content } = delivery;
  return {
    body: value,
    messageId: properties.messageId,
    headers: visibleHeaders(properties.headers),
    properties: amqpProperties(properties),
    ...originalRoute(properties.headers, fields),
    attempt,
    raw: content,
  };
}

export function runBatch(items: readonly Decoded[], deps: BatchRunDeps): Promise<Outcome> {
  return runHandler(deps.handler as unknown as Handler, items.map(toBatchItem), {
    timeoutMs: deps.fn.timeout,
    shutdown: deps.shutdown,
    onStuck: deps.onStuck,
    context: (abort) => {
      let childLog: Logger | undefined;
      const ctx: BatchContext = {
        get log() {
          childLog ??= deps.log.child({ batch: items.length });
          return childLog;
        },
        get signal() {
          return abort.signal;
        },
        publish: (exchange, routingKey, body, options) => publishFromHandler(deps.publish, exchange, routingKey, body, options),
        functionName: deps.fn.name,
      };
      // runHandler passes it through untouched; a batch handler is typed to receive a BatchContext.
      return ctx as Context;
    },
  });
}
