/**
 * Step 5 of a message's path: carry out the decision (./outcome.ts) with exactly one settlement.
 * Whatever must reach the broker first (the output, the retry copy, the dead letter) is confirmed
 * before the ack, so a crash in between leaves a duplicate, never a loss. A publish that fails
 * throws: the caller returns the message to the queue (./process.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { FunctionConfig } from '../config/types';
import { sleep } from '../lib/sleep';
import type { Delivery, Settle } from './delivery';
import type { Publish } from './handler-context';
import { copyHeaders, deadLetterHeaders, H, lastDeathOf, loggableError, originalRoute, retryHeaders, type Route } from './headers';
import { decideSettlement, type Settlement } from './outcome';
import { toExchange, toOwnQueue } from './publish-target';
import { withHeaders } from '../connection/publish-options';
import { toError } from './run-handler';
import { priorDeliveries, type QueueKind } from './suspects';
import { firstLine } from '../lib/first-line';
import type { RecentFailure } from '../admin/wire-types';

export type Counted = 'acked' | 'retried' | 'dead' | 'dropped';

export interface CarryOutDeps {
  fn: FunctionConfig;
  version: string;
  publish: Publish;
  log: Logger;
  /** aborted at shutdown: an ordered retry stops waiting and hands the message back at once */
  shutdown: AbortSignal;
  now?: () => Date;
  /** the log is at debug level: one line per handled message (the object for it is not even made otherwise) */
  debug?: boolean;
  /** an attempt failed: what became of the message (the dashboard's recent failures) */
  onFailure?: (failure: RecentFailure) => void;
}

function failed(deps: CarryOutDeps, m: Delivered, outcome: RecentFailure['outcome'], error: Error, reason?: string): void {
  deps.onFailure?.(failureNote(m, outcome, error, reason, deps.now?.()));
}

/** A failed attempt as the dashboard lists it (also an ordered batch's item retried in place, ./batch/process-batch.ts). */
export function failureNote(
  m: Pick<Delivered, 'delivery' | 'attempt'>,
  outcome: RecentFailure['outcome'],
  error: Error,
  reason?: string,
  at = new Date(),
): RecentFailure {
  return {
    at: at.toISOString(),
    messageId: m.delivery.properties.messageId ?? null,
    attempt: m.attempt,
    outcome,
    ...(reason ? { reason } : {}),
    error: firstLine(error.message),
  };
}

export interface Delivered {
  delivery: Delivery;
  settle: Settle;
  attempt: number;
  route: Route;
  /** a delivery-limit dead letter: why the last replica that held it died */
  lastDeath?: string;
}

/**
 * An `ack` with an output publishes it first; when that publish fails the attempt failed, and the
 * decision is made again for that failure (retry or dead letter, as for a handler that threw).
 * An ack or a drop has nothing to wait for: it is carried out at once and returns the count itself,
 * so the common case costs no promise at all.
 */
export function carryOut(settlement: Settlement, m: Delivered, deps: CarryOutDeps): Counted | Promise<Counted> {
  switch (settlement.action) {
    case 'ack':
      if (settlement.output) return publishOutputThenSettle(settlement.output, m, deps);
      m.settle.ack();
      if (deps.debug) deps.log.debug({ messageId: m.delivery.properties.messageId, attempt: m.attempt }, 'handled');
      return 'acked';
    case 'drop':
      m.settle.ack();
      deps.log.error(
        { messageId: m.delivery.properties.messageId, attempt: m.attempt, reason: settlement.reason, err: loggableError(settlement.error) },
        `message dropped: deadLetter is false for ${deps.fn.name}`,
      );
      failed(deps, m, 'dropped', settlement.error, settlement.reason);
      return 'dropped';
    default:
      return publishThenSettle(settlement, m, deps);
  }
}

async function publishOutputThenSettle(output: { exchange: string; routingKey: string; value: unknown }, m: Delivered, deps: CarryOutDeps): Promise<Counted> {
  let settlement: Settlement = { action: 'ack' };
  try {
    await deps.publish(toExchange(output.exchange), output.value, { routingKey: output.routingKey, properties: { messageId: randomUUID() } });
  } catch (err) {
    settlement = decideSettlement(deps.fn, m.attempt, { kind: 'error', error: toError(err, 'publishing the output failed'), timedOut: false });
  }
  return carryOut(settlement, m, deps);
}

async function publishThenSettle(settlement: Exclude<Settlement, { action: 'ack' | 'drop' }>, m: Delivered, deps: CarryOutDeps): Promise<Counted> {
  const { fn, log } = deps;
  const { delivery, attempt, route } = m;
  const { content, properties } = delivery;
  const messageId = properties.messageId;
  switch (settlement.action) {
    case 'retry':
      await deps.publish(toOwnQueue(settlement.queue), content, {
        properties: withHeaders(properties, retryHeaders(properties.headers, settlement.nextAttempt, route), false),
      });
      m.settle.ack();
      // Why, in one line: the dead letter, if it comes to that, keeps the whole error and its stack.
      log.warn(
        { messageId, attempt, retryInMs: settlement.delayMs, error: firstLine(settlement.error.message) },
        `attempt ${attempt} of ${fn.retry.attempts} failed; retrying in ${settlement.delayMs} ms`,
      );
      failed(deps, m, 'retried', settlement.error);
      return 'retried';
    case 'requeue':
      // Ordered functions keep the message's place: wait here, then hand it back to the broker.
      await sleep(settlement.delayMs, deps.shutdown);
      m.settle.requeue();
      log.warn({ messageId, attempt, error: firstLine(settlement.error.message) }, `attempt ${attempt} of ${fn.retry.attempts} failed; retrying in place`);
      failed(deps, m, 'retried', settlement.error);
      return 'retried';
    case 'dead': {
      const headers = deadLetterHeaders(properties.headers, {
        functionName: fn.name,
        version: deps.version,
        reason: settlement.reason,
        error: settlement.error,
        attempts: attempt,
        route,
        now: deps.now?.() ?? new Date(),
        ...(m.lastDeath ? { lastDeath: m.lastDeath } : {}),
      });
      await deps.publish(toOwnQueue(settlement.queue), content, { properties: withHeaders(properties, headers, false) });
      m.settle.ack();
      log.error({ messageId, attempt, reason: settlement.reason, err: loggableError(settlement.error) }, `dead-lettered to ${settlement.queue}`);
      failed(deps, m, 'dead', settlement.error, settlement.reason);
      return 'dead';
    }
  }
}

export interface Aside {
  /** unsettled deliveries so far, carried in `x-warren-redeliveries` */
  redeliveries: number;
  /** where it waits: a retry queue (it comes back when its TTL ends), or the back of its own queue */
  queue: string;
  /** why the replica that held it died, when this replica knows (carried in `x-warren-last-death`) */
  lastDeath: string | undefined;
}

/**
 * Copy the message aside (see ./suspects.ts) with its count of unsettled deliveries in a header, then
 * ack this delivery. A crash between the two leaves a duplicate, never a loss.
 */
export async function moveAside(delivery: Delivery, settle: Settle, aside: Aside, publish: Publish): Promise<void> {
  const headers = delivery.properties.headers ?? {};
  const copy: Record<string, unknown> = { ...copyHeaders(headers) };
  if (aside.redeliveries > 0) copy[H.redeliveries] = aside.redeliveries;
  else delete copy[H.redeliveries];
  const lastDeath = lastDeathOf(headers, aside.lastDeath);
  if (lastDeath) copy[H.lastDeath] = lastDeath;
  const route = originalRoute(headers, delivery.fields);
  copy[H.exchange] = route.exchange;
  copy[H.routingKey] = route.routingKey;
  await publish(toOwnQueue(aside.queue), delivery.content, { properties: withHeaders(delivery.properties, copy) });
  settle.ack();
}

/**
 * Give back a message that never started (its replica drains while it waits for its rate-limit turn,
 * ./waiting-turns.ts): a copy at the back of its own queue with the counts it came with, then ack
 * this delivery. Not a nack: the broker would count that delivery (a quorum queue's
 * `x-delivery-count`, a classic queue's redelivered flag), and the message would come back as a
 * suspect (./suspects.ts) that waits aside and runs alone, one attempt and one redelivery nearer its
 * limit for a handler that never saw it; a few redeploys would dead-letter it unrun. An ordered
 * function's message keeps its place instead: a nack, which the broker counts.
 */
export async function handBackUnstarted(
  delivery: Delivery,
  settle: Settle,
  fn: Pick<FunctionConfig, 'queue' | 'ordered'>,
  queueType: QueueKind,
  publish: Publish,
): Promise<void> {
  if (fn.ordered) {
    settle.requeue();
    return;
  }
  const facts = { headers: delivery.properties.headers, redelivered: delivery.fields.redelivered, queueType };
  await moveAside(delivery, settle, { redeliveries: priorDeliveries(facts), queue: fn.queue, lastDeath: undefined }, publish);
}
