/**
 * `warren publish EXCHANGE ROUTING_KEY JSON|@file [--count N] [--header k=v] [--delay D]`: publish
 * persistent messages with publisher confirms, pipelined (a window of unconfirmed messages, never one
 * at a time). With --delay they enter the delay ladder (runtime/delay/ladder.ts) instead; with
 * --wait-reply one request goes out and the reply is printed (./request-reply.ts).
 */
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { connectToAny } from '../connection/connect';
import { brokerUnreachable, vhostOfUrl } from '../connection/unreachable';
import { publishOptions } from '../connection/publish-options';
import { exchangeExists } from '../connection/probe';
import { EXIT, WarrenError } from '../errors';
import { parseCount, parseHeaders, projectDir, readForTools, readMessageArgument, refuseLongName, repeated, reportFailure } from './common';
import { ENTRY_EXCHANGE, delayedPublish, parseDelay } from '../delay/ladder';
import { describeDuration, parseDuration } from '../config/units';
import { requestReply } from './request-reply';
import { withTimeout } from '../lib/with-timeout';

export interface PublishResult {
  published: number;
  unroutable: number;
  /** `signal` was aborted: `published` copies went out and were confirmed, the rest were not sent */
  interrupted?: boolean;
}

/** `--count` at most: a run of more is a load generator's job (a typo such as 1e9 would run for days). */
export const MAX_PUBLISH_COUNT = 10_000_000;

const WINDOW = 1_000;
/** connections tried in a row after a node is lost mid-run (each goes through the whole list) */
const FAILOVERS = 5;
/**
 * A node that takes publishes and never confirms them is given up after this long without a confirm,
 * as if it were lost: seen on a cluster node that had just restarted, where a run hung for minutes.
 */
const CONFIRM_TIMEOUT_MS = 15_000;

/**
 * Publish `count` copies with confirms; resolves once every one is confirmed. When the node goes
 * away mid-run, the messages it had not confirmed are published again through another node of the
 * list (a duplicate is possible, a loss is not).
 */
export async function publishMessages(
  url: string,
  target: { exchange: string; routingKey: string },
  body: Buffer,
  options: {
    count: number;
    headers: Record<string, string | string[]>;
    contentType?: string;
    messageIdPrefix?: string;
    delayMs?: number;
    /** aborted (Ctrl-C): no further copy is sent; the ones sent are confirmed, then the run ends */
    signal?: AbortSignal;
  },
): Promise<PublishResult> {
  // One id per copy, kept when a copy is sent again after a failover: a consumer can spot the duplicate.
  const prefix = options.messageIdPrefix ?? randomUUID();
  const properties: Properties = { headers: options.headers, contentType: options.contentType };
  const run: Run = {
    next: 0,
    retry: [],
    refused: [],
    unroutable: 0,
    messageId: options.count === 1 && !options.messageIdPrefix ? () => prefix : (copy) => `${prefix}-${copy}`,
  };
  let startAt = 0;
  let refusedSince: number | null = null;
  let refusedWait = REFUSED_FIRST_MS;
  for (let failovers = 0, runs = 0; ; runs++) {
    const found = await connectToAny(url, { startAt }).catch((err: Error) => {
      throw brokerUnreachable(url, vhostOfUrl(url), err);
    });
    startAt = found.index + 1;
    if (options.delayMs !== undefined && runs === 0) {
      try {
        await checkExchanges(found.connection, [target.exchange, ENTRY_EXCHANGE]);
      } catch (err) {
        await found.connection.close().catch(() => undefined);
        throw err;
      }
    }
    const lost = await publishOn(found.connection, run, target, body, properties, options.count, options.delayMs, CONFIRM_TIMEOUT_MS, options.signal);
    if (lost) {
      const refused = refusalOf(lost);
      if (refused) {
        await found.connection.close().catch(() => undefined);
        throw refused;
      }
      if (failovers++ >= FAILOVERS) throw lost;
      // No confirm for a while is not proof the node we talk to went: the queue's leader may sit on another (frozen) node.
      const what = /no confirm from the broker/.test(lost.message)
        ? `gave up on ${found.node}: ${lost.message} (that node, or the one leading the queue, may be frozen)`
        : `lost ${found.node} (${lost.message})`;
      process.stderr.write(`warren: ${what}; ${run.retry.length} unconfirmed message(s) go again through another node\n`);
      continue;
    }
    // Interrupted: what was sent is confirmed (or refused, and not sent again).
    if (options.signal?.aborted && run.next < options.count)
      return { published: run.next - run.refused.length, unroutable: Math.min(run.unroutable, run.next), interrupted: true };
    // A copy sent again after a failover may come back unroutable twice.
    if (run.refused.length === 0) return { published: options.count, unroutable: Math.min(run.unroutable, options.count) };
    // Refused (nack): a quorum queue whose leader is being elected refuses for a moment, so the copies
    // are sent again, as a replica does with a copy the broker refuses (README, "Running on a RabbitMQ cluster").
    refusedSince ??= Date.now();
    const refused = run.refused.length;
    if (Date.now() - refusedSince >= REFUSED_FOR_MS) {
      throw new WarrenError(
        'WARREN_E_PUBLISH_FAILED',
        `the broker refused ${refused} of ${options.count} message(s) (nack) for ${REFUSED_FOR_MS / 1000} s; the other ${options.count - refused} were published and confirmed`,
        {
          hint: 'the broker log says why (a queue at its maxLength with reject-publish, a quorum queue without a leader, a disk alarm); publish the refused ones again once it takes them',
        },
      );
    }
    process.stderr.write(`warren: the broker refused ${refused} message(s) (nack); sending them again in ${describeDuration(refusedWait)}\n`);
    await new Promise((resolve) => setTimeout(resolve, refusedWait));
    refusedWait = Math.min(refusedWait * 2, REFUSED_MAX_WAIT_MS);
    run.retry.push(...run.refused.splice(0).sort((a, b) => a - b));
  }
}

/** A copy the broker refuses is sent again after 0.1 s, doubling up to 5 s, for up to 30 s. */
const REFUSED_FIRST_MS = 100;
const REFUSED_MAX_WAIT_MS = 5_000;
const REFUSED_FOR_MS = 30_000;

export interface Run {
  /** the next copy to publish */
  next: number;
  /** copies sent on a lost connection without a confirm: published again first */
  retry: number[];
  /** copies the broker refused (nack): sent again after a wait */
  refused: number[];
  unroutable: number;
  messageId(copy: number): string;
}

export type Properties = { headers: Record<string, string | string[]>; contentType: string | undefined };

/**
 * Publishes on one connection until every copy is confirmed (resolves null) or the connection is
 * lost (resolves the error; `run.retry` then holds what was not confirmed). Other failures throw.
 */
export async function publishOn(
  connection: ChannelModel,
  run: Run,
  target: { exchange: string; routingKey: string },
  body: Buffer,
  properties: Properties,
  count: number,
  delayMs?: number,
  confirmTimeoutMs = CONFIRM_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<Error | null> {
  let connectionLost: Error | null = null;
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  // The copies sent on this connection's channel and not confirmed yet.
  const unconfirmed = new Set<number>();
  signal?.addEventListener('abort', wakeUp, { once: true });
  connection.on('error', () => undefined);
  connection.on('close', (err?: Error) => {
    connectionLost ??= err ?? new Error('the connection closed');
    wakeUp();
  });
  // The last confirm, or the send that began a window after none was in flight. A broker that says it
  // blocks publishers (a memory or disk alarm) is waited for, as before.
  let progress = Date.now();
  let blocked = false;
  connection.on('blocked', () => (blocked = true));
  connection.on('unblocked', () => {
    blocked = false;
    progress = Date.now();
  });
  const watchdog = setInterval(
    () => {
      if (blocked || unconfirmed.size === 0 || Date.now() - progress < confirmTimeoutMs) return;
      connectionLost ??= new Error(`no confirm from the broker for ${confirmTimeoutMs / 1000} s`);
      wakeUp();
    },
    Math.min(1_000, confirmTimeoutMs / 4),
  );
  try {
    // A node on its way down or up may take the connection and never answer: no step waits for it forever.
    const channel = await withTimeout(connection.createConfirmChannel(), confirmTimeoutMs, () => {
      connectionLost ??= new Error(`no channel from the broker within ${confirmTimeoutMs / 1000} s`);
      return connectionLost;
    });
    channel.on('return', () => run.unroutable++);
    let failure: Error | null = null;
    // A window of unconfirmed messages: the loop waits only when WINDOW are in flight, and the last
    // confirms are awaited at the end.
    const confirmed = (copy: number) => (err: unknown) => {
      progress = Date.now();
      if (err && !connectionLost && !/closed/.test(String((err as Error).message))) {
        // Refused: settled on this channel, sent again by the caller after a wait.
        unconfirmed.delete(copy);
        run.refused.push(copy);
      } else if (!err) unconfirmed.delete(copy);
      if (unconfirmed.size < WINDOW || unconfirmed.size === 0) wakeUp();
    };
    // A closed channel (a missing exchange closes it, so does a lost node) ends this connection's run.
    const fail = (err: Error) => {
      failure ??= err;
      wakeUp();
    };
    channel.on('error', fail);
    channel.on('close', () => fail(new Error('the channel closed')));
    const send = (copy: number) => {
      if (unconfirmed.size === 0) progress = Date.now();
      unconfirmed.add(copy);
      const now = Date.now();
      // Sent again after a failover, a copy's delay starts again: late, never early.
      const route = delayMs === undefined ? null : delayedPublish(target.exchange, target.routingKey, delayMs, properties.headers, now);
      const each = publishOptions(undefined, {
        persistent: true,
        mandatory: true,
        contentType: properties.contentType,
        headers: route ? route.headers : properties.headers,
        messageId: run.messageId(copy),
        timestamp: Math.floor(now / 1000),
      });
      if (route) channel.publish(route.exchange, route.routingKey, body, each, confirmed(copy));
      else channel.publish(target.exchange, target.routingKey, body, each, confirmed(copy));
    };
    const stopped = () => failure !== null || connectionLost !== null;
    while (run.retry.length > 0 && !stopped()) send(run.retry.shift()!);
    while (run.next < count && !stopped() && !signal?.aborted) {
      send(run.next++);
      if (unconfirmed.size >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
    }
    while (unconfirmed.size > 0 && !stopped()) await new Promise<void>((resolve) => (wake = resolve));
    if (connectionLost || (failure && isLost(failure))) {
      run.retry.push(...[...unconfirmed].sort((a, b) => a - b));
      return connectionLost ?? failure;
    }
    if (failure) throw failure;
    channel.removeAllListeners('close');
    // Every copy is confirmed: a close the node does not answer changes nothing.
    await withTimeout(channel.close(), confirmTimeoutMs).catch(() => undefined);
    return null;
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    // The node went away under an operation (opening the channel, a publish on a closing socket).
    if (connectionLost || (err instanceof Error && isLost(err))) {
      run.retry.push(...[...unconfirmed].sort((a, b) => a - b));
      return connectionLost ?? (err as Error);
    }
    if (/NOT_FOUND/.test(message)) {
      throw new WarrenError('WARREN_E_CONFIG_REFERENCE', `the broker has no exchange "${target.exchange}"`, {
        hint: 'declare it in queues.yaml and run `warren start` once, or check the spelling',
      });
    }
    if (err instanceof WarrenError) throw err;
    if (/cannot publish to internal exchange/.test(message)) {
      throw new WarrenError(
        'WARREN_E_USAGE',
        `exchange "${target.exchange}" is internal: RabbitMQ takes messages into it only through other exchanges' bindings`,
        {
          hint: 'publish to an exchange bound to it, or drop `internal: true` from it in queues.yaml (and declare it again)',
        },
      );
    }
    throw new WarrenError('WARREN_E_PUBLISH_FAILED', message, {
      hint: 'the broker log says why; the messages it did not confirm may not have been published',
      cause: err,
    });
  } finally {
    signal?.removeEventListener('abort', wakeUp);
    clearInterval(watchdog);
    await withTimeout(connection.close(), confirmTimeoutMs).catch(() => undefined);
  }
}

/** Each exchange exists (a delayed message is checked now, not when it comes due); '' always does. */
async function checkExchanges(connection: ChannelModel, exchanges: string[]): Promise<void> {
  for (const exchange of exchanges) {
    if (!(await exchangeExists(connection, exchange).catch(() => false))) {
      throw new WarrenError('WARREN_E_CONFIG_REFERENCE', `the broker has no exchange "${exchange}"`, {
        hint:
          exchange === ENTRY_EXCHANGE
            ? 'the delay ladder is declared by `warren start`: start Warren once against this broker and vhost'
            : 'declare it in queues.yaml and run `warren start` once, or check the spelling',
      });
    }
  }
}

/** The channel went down with its connection (node gone, CONNECTION_FORCED), not by a refusal of the broker. */
function isLost(err: Error): boolean {
  return !/NOT_FOUND|ACCESS_REFUSED|nack/.test(err.message) && /closed|closing|CONNECTION_FORCED|ECONNRESET|EPIPE|socket/i.test(err.message);
}

/**
 * `--delay D` → ms, or undefined for no delay, read as ctx.publish reads a delay (parseDelay: a bare
 * number is whole milliseconds; `1.5` and `-1` are refused with the same words a handler gets). A
 * delay of zero publishes at once, straight to the exchange: what anyone writing `--delay 0` (or
 * `--delay "$DELAY"` with 0 in it) means, without a detour through the ladder and its forwarder.
 */
export function parseDelayOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDelay(value, 'write e.g. --delay 90s, --delay 1h30m, or --delay 1500 (milliseconds)');
  return ms === 0 ? undefined : ms;
}

/** What the broker returned unroutable: it confirmed those messages and dropped them, no queue has them. */
export function unroutable(target: { exchange: string; routingKey: string }, returned: number, count: number): WarrenError {
  const which = count === 1 ? 'the message was' : returned === count ? `all ${count} messages were` : `${returned} of the ${count} messages were`;
  const where = target.exchange === '' ? `no queue is named ${target.routingKey}` : `no queue is bound to ${target.exchange} for ${target.routingKey}`;
  return new WarrenError('WARREN_E_PUBLISH_FAILED', `${which} unroutable: ${where}, so the broker dropped ${count === 1 ? 'it' : 'them'}`, {
    hint:
      target.exchange === ''
        ? "through the default exchange ('') the routing key is a queue's name: check it, or that the function's queue was declared (`warren start` once)"
        : "check the exchange and routing key against queues.yaml's bindings (`warren start` declares them); a function's own queue is reached through the default exchange: '' and the queue's name",
  });
}

/** `--wait-reply [timeout]` → ms to wait (30 s without a value), or undefined; one request, published now. */
export function parseWaitReply(value: string | true | undefined, count: number, delayMs: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (count !== 1) throw new WarrenError('WARREN_E_USAGE', '--wait-reply sends one request: drop --count');
  if (delayMs !== undefined) throw new WarrenError('WARREN_E_USAGE', '--wait-reply waits for a reply now: drop --delay');
  if (value === true) return 30_000;
  const ms = parseDuration(/^\d+$/.test(value) ? Number(value) : value);
  if (ms === undefined || ms <= 0)
    throw new WarrenError('WARREN_E_USAGE', `--wait-reply ${value}: expected a timeout such as 10s or 2m`, { hint: 'or give --wait-reply alone to wait 30s' });
  return ms;
}

export function registerPublish(program: Command): void {
  program
    .command('publish')
    .description('publish a message (persistent, with publisher confirms)')
    .argument('<exchange>', "exchange name ('' for the default exchange)")
    .argument('<routingKey>', 'routing key')
    .argument('<message>', 'JSON, or @file holding JSON')
    .option('--dir <dir>', 'project folder (holds queues.yaml, rascal.json)')
    .option('--count <n>', 'publish N copies', '1')
    .option('--header <k=v>', 'add a header (repeatable)', repeated, [] as string[])
    .option('--text', 'send the message as plain text instead of JSON')
    .option('--delay <duration>', 'deliver after this long (90s, 5m, 1h30m, or milliseconds; up to about 36 h), held in the broker; 0 publishes at once')
    .option('--wait-reply [timeout]', 'publish one request with a replyTo and print the reply the function sends back (default timeout 30s)')
    .action(
      async (
        exchange: string,
        routingKey: string,
        message: string,
        options: { dir?: string; count: string; header: string[]; text?: boolean; delay?: string; waitReply?: string | true },
      ) => {
        const dir = projectDir(options);
        try {
          const count = parseCount(options.count, '--count');
          if (count > MAX_PUBLISH_COUNT)
            throw new WarrenError('WARREN_E_USAGE', `--count ${options.count} is over ${MAX_PUBLISH_COUNT.toLocaleString('en')}`, {
              hint: 'publish in several runs, or use a load generator such as RabbitMQ PerfTest for more',
            });
          refuseLongName('the exchange name', exchange);
          refuseLongName('the routing key', routingKey);
          const headers = parseHeaders(options.header);
          const delayMs = parseDelayOption(options.delay);
          const waitMs = parseWaitReply(options.waitReply, count, delayMs);
          const { text } = await readMessageArgument(message, { text: options.text ?? false });
          const config = await readForTools(dir);
          const contentType = options.text ? 'text/plain' : 'application/json';
          if (waitMs !== undefined) {
            const reply = await requestReply(config.url, { exchange, routingKey }, Buffer.from(text), { headers, contentType, timeoutMs: waitMs });
            process.stdout.write(reply.body);
            if (!reply.body.toString('utf8').endsWith('\n')) process.stdout.write('\n');
            process.stderr.write(`reply in ${Math.round(reply.ms)} ms${reply.contentType ? ` (${reply.contentType})` : ''}\n`);
            process.exitCode = EXIT.OK;
            return;
          }
          const started = performance.now();
          // Ctrl-C (or SIGTERM) stops sending and waits for the confirms of what was sent, so the count
          // said is the count published; a second one quits at once.
          const interrupt = new AbortController();
          let signalled: NodeJS.Signals | null = null;
          const onSignal = (signal: NodeJS.Signals) => {
            signalled = signal;
            interrupt.abort();
            process.stderr.write(`warren: ${signal}: sending no more; waiting for the broker to confirm what was sent (again to quit at once)\n`);
          };
          process.once('SIGINT', onSignal);
          process.once('SIGTERM', onSignal);
          const result = await publishMessages(config.url, { exchange, routingKey }, Buffer.from(text), {
            count,
            headers,
            contentType,
            signal: interrupt.signal,
            ...(delayMs === undefined ? {} : { delayMs }),
          }).finally(() => {
            process.removeListener('SIGINT', onSignal);
            process.removeListener('SIGTERM', onSignal);
          });
          const seconds = (performance.now() - started) / 1000;
          if (result.interrupted) {
            const routed = result.published - result.unroutable;
            process.stderr.write(
              `warren: interrupted: published ${routed} of ${count} messages (confirmed by the broker); the other ${count - result.published} were not sent\n`,
            );
            if (result.unroutable) process.stderr.write(`${unroutable({ exchange, routingKey }, result.unroutable, result.published).message}\n`);
            process.exitCode = 128 + (signalled === 'SIGTERM' ? 15 : 2);
            return;
          }
          const routed = result.published - result.unroutable;
          // Said only of what the broker routed: an unroutable message was confirmed, then dropped.
          if (routed > 0) {
            const rate = count > 1 ? ` (${Math.round(count / seconds)} msg/s)` : '';
            const after = delayMs === undefined ? '' : `, delivered in ${describeDuration(delayMs)}`;
            const of = result.unroutable > 0 ? ` of ${count}` : '';
            process.stdout.write(
              `published ${routed}${of} message${count === 1 ? '' : 's'} to ${exchange || '(default)'} with routing key ${routingKey}${after}${rate}\n`,
            );
          }
          if (result.unroutable) throw unroutable({ exchange, routingKey }, result.unroutable, count);
          process.exitCode = EXIT.OK;
        } catch (err) {
          process.exitCode = reportFailure(err, dir);
        }
      },
    );
}

/**
 * The broker closed the channel over the message itself (a header it cannot take, a message over its
 * max size, no permission): not a lost node, and another node would refuse it too.
 */
export function refusalOf(lost: Error): WarrenError | null {
  const refusal = /\b40[3-6] \([A-Z-]+\) with message "([^"]*)"/.exec(lost.message);
  if (!refusal) return null;
  const said = refusal[1] ?? lost.message;
  return new WarrenError('WARREN_E_PUBLISH_FAILED', `the broker refused the message: ${said}`, {
    hint: /header/i.test(said)
      ? 'a header value of a type the broker does not take (CC and BCC are lists: --header CC=queue-a,queue-b)'
      : 'the broker log says more; nothing of this message was published',
  });
}
