/**
 * A replica's publisher: one confirm channel on the replica's own connection, publishes pipelined
 * (never one confirm at a time), each resolved by its own confirm. Used for outputs, retries, dead
 * letters and ctx.publish.
 *
 * Targets (./publish-target.ts): an exchange, or a queue through the default exchange. An exchange
 * queues.yaml does not declare (one another application declares, or a built-in amq.* one) is first
 * looked up on the broker, on a channel of its own, and refused when it is not there: a publish to a
 * missing exchange would close the confirm channel under every other message in flight. Any queue
 * name is fine (the default exchange always exists, and a missing queue comes back as a return), so a
 * function run with `--only` still reaches the queues of functions it does not run.
 *
 * An exchange deleted on the broker while the runtime runs: the broker closes the channel with 404 for
 * a publish to it. The messages sent to that exchange on that channel fail (their attempt fails and is
 * retried after its backoff), the others go again on a new channel; one queues.yaml declares is
 * reported through `onExchangeMissing`, so the runtime declares the topology again before the retry.
 *
 * A node lost mid-publish: the confirms that never came (the channel closed under them) are not
 * failures. Those messages wait for the consumer's next connection, to another node, and are
 * published again there; the caller's promise settles with that confirm. A publish made while the
 * connection is down waits the same way. So an output or ctx.publish is confirmed before its input is
 * acked even across a failover (a duplicate is possible, a loss is not). Waiting is bounded.
 */
import type { Channel, ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { Logger } from 'pino';
import type { MessageProperties } from './delivery';
import { internalExchangeError, type PublishTarget } from './publish-target';
import { publishOptions } from '../connection/publish-options';
import { encodeBody } from './encode-body';
import { exchangeExists } from '../connection/probe';

/** What the broker reports a return by. */
interface Route {
  exchange: string;
  routingKey: string;
}

interface Pending extends Route {
  returned: boolean;
  body: Buffer;
  options: Options.Publish;
  /** where it goes, and whether nothing taking it is an error (./publish-target.ts) */
  target: PublishTarget;
  resolve(): void;
  reject(err: Error): void;
  /** times sent: a message whose channel keeps closing under it is refused after MAX_SENDS */
  sends: number;
  timer?: NodeJS.Timeout;
}

/** how long a message waits for a connection (a failover takes seconds; the broker down, longer) */
const WAIT_FOR_CONNECTION_MS = 30_000;
const MAX_SENDS = 5;
/** how long a broker lookup of an exchange queues.yaml does not declare holds: found, and not found */
const FOUND_FOR_MS = 60_000;
const MISSING_FOR_MS = 1_000;

export class Publisher {
  private channel: Promise<ConfirmChannel> | null = null;
  /** the channel once open, for publishing without waiting a turn */
  private ready: ConfirmChannel | null = null;
  private connection: ChannelModel | null = null;
  /** publishes awaiting their confirm, in publish order (returns and confirms arrive in that order) */
  private pending: Pending[] = [];
  /** index of the oldest unconfirmed entry of `pending` */
  private head = 0;
  /** sent on a channel that closed before confirming, or published while down: sent again on the next channel */
  private waiting: Pending[] = [];
  /** exchanges queues.yaml does not declare, as last looked up on the broker */
  private readonly lookedUp = new Map<string, { found: Promise<boolean>; until: number }>();

  constructor(
    /** exchanges declared in queues.yaml (and the amq.* ones in use) */
    private readonly exchanges: ReadonlySet<string>,
    private readonly log: Logger,
    /** exchanges queues.yaml marks `internal`: a publish to one would only close the channel */
    private readonly internal: ReadonlySet<string> = new Set(),
    /** a publish was refused because this exchange, one Warren declares, is not on the broker */
    private readonly onExchangeMissing: (exchange: string) => void = () => undefined,
  ) {}

  /** channels the broker closed over a publish to a missing exchange, with that exchange */
  private readonly closedFor = new WeakMap<ConfirmChannel, string>();
  /**
   * The broker's max_message_size, once it closed a channel over a message larger than it: the message
   * fails with that cause (its dead letter says so) instead of being sent again on the next channel,
   * and later ones over it fail before they are sent.
   */
  private maxMessageBytes: number | undefined;

  /** The consumer's connection, new after each reconnect (null while down). */
  use(connection: ChannelModel | null): void {
    this.connection = connection;
    this.channel = null;
    this.ready = null;
    if (connection && this.waiting.length > 0) this.sendWaiting();
  }

  /** Messages waiting for a connection (shown at shutdown). */
  get unsent(): number {
    return this.waiting.length;
  }

  /**
   * Publish with a confirm. Objects are sent as JSON, strings as text, Buffers as they are. Resolves
   * once the broker confirmed; rejects on a nack, a closed channel, or (with `strict`) when nothing
   * is bound to take the message. `delayedTo`: a delayed message's own exchange (the target is the
   * delay ladder), looked up the same way, so a delay to a missing exchange throws now as a publish
   * without delay does, not when it comes due.
   */
  publish(target: PublishTarget, content: unknown, routingKey: string | undefined, properties: MessageProperties, delayedTo?: string): Promise<void> {
    const { name } = target;
    const internal = target.kind === 'exchange' && this.internal.has(name) ? name : delayedTo && this.internal.has(delayedTo) ? delayedTo : undefined;
    if (internal !== undefined) return Promise.reject(internalExchangeError(internal));
    const unknown = target.kind !== 'queue' && !this.exchanges.has(name) ? name : delayedTo && !this.exchanges.has(delayedTo) ? delayedTo : undefined;
    if (unknown !== undefined)
      return this.lookUp(unknown).then((found) => {
        if (!found) throw new Error(noExchange(unknown));
        return this.send(target, content, routingKey, properties);
      });
    return this.send(target, content, routingKey, properties);
  }

  /** Whether an exchange queues.yaml does not declare exists, asked on a channel of its own (a 404 closes it), and kept a while. */
  private lookUp(name: string): Promise<boolean> {
    const hit = this.lookedUp.get(name);
    if (hit && hit.until > Date.now()) return hit.found;
    const connection = this.connection;
    if (!connection) return Promise.reject(new Error(`cannot look up exchange "${name}": not connected to the broker`));
    const found = exchangeExists(connection, name);
    const entry = { found, until: Number.POSITIVE_INFINITY };
    this.lookedUp.set(name, entry);
    // Kept once answered; a failed lookup (connection lost) is asked again next time.
    found.then(
      (yes) => (entry.until = Date.now() + (yes ? FOUND_FOR_MS : MISSING_FOR_MS)),
      () => this.lookedUp.get(name) === entry && this.lookedUp.delete(name),
    );
    return found;
  }

  private send(target: PublishTarget, content: unknown, routingKey: string | undefined, properties: MessageProperties): Promise<void> {
    const { name } = target;
    const toQueue = target.kind === 'queue';
    const { body, contentType } = encodeBody(content);
    const options = publishOptions(properties, {
      persistent: properties.deliveryMode !== 1,
      mandatory: target.mandatory ?? true,
      contentType: properties.contentType || contentType,
    });
    const [exchange, key] = toQueue ? ['', name] : [name, routingKey ?? ''];
    if (this.maxMessageBytes !== undefined && body.length > this.maxMessageBytes) return Promise.reject(this.tooLarge(name, body.length));
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { exchange, routingKey: key, returned: false, body, options, target, resolve, reject, sends: 0 };
      // The open channel is used at once: no await (one more promise job per message) on the hot path.
      if (this.ready) this.sendOn(this.ready, entry);
      else if (!this.connection) this.wait(entry);
      else
        this.open().then(
          (channel) => this.sendOn(channel, entry),
          () => this.wait(entry),
        );
    });
  }

  private sendOn(channel: ConfirmChannel, entry: Pending): void {
    entry.returned = false;
    entry.sends++;
    this.pending.push(entry);
    const confirm = (err: Error | null) => {
      this.confirmed(entry);
      if (err && this.closedFor.get(channel) === entry.exchange) return entry.reject(this.missingExchange(entry.exchange));
      if (err && this.maxMessageBytes !== undefined && entry.body.length > this.maxMessageBytes)
        return entry.reject(this.tooLarge(entry.target.name, entry.body.length));
      // The channel closed under it (node lost, connection closed): not refused, just not confirmed.
      if (err && /closed/i.test(err.message) && entry.sends < MAX_SENDS) return this.wait(entry);
      if (err) return entry.reject(new Error(`the broker refused the message for ${entry.target.name}`));
      if (entry.returned && entry.target.strict) return entry.reject(new Error(noQueue(entry.target)));
      if (entry.returned)
        this.log.warn({ exchange: entry.exchange, routingKey: entry.routingKey }, 'published message was unroutable: no queue is bound for it');
      entry.resolve();
    };
    try {
      channel.publish(entry.exchange, entry.routingKey, entry.body, entry.options, confirm);
    } catch (err) {
      const message = (err as Error).message;
      // A channel that closed a moment ago throws here, before its close event reached us: wait for the next one.
      if (/closed/i.test(message)) return confirm(err as Error);
      // amqplib throws at once for what it cannot encode (a header table over 64 KiB): no confirm
      // will come for this entry, so it leaves the pending list now.
      this.confirmed(entry);
      entry.reject(new Error(`the message for ${entry.target.name} could not be encoded: ${message}`));
    }
  }

  /** Holds a message until a channel is open again (the next connection), for WAIT_FOR_CONNECTION_MS at most. */
  private wait(entry: Pending): void {
    entry.timer = setTimeout(() => {
      const at = this.waiting.indexOf(entry);
      if (at >= 0) this.waiting.splice(at, 1);
      entry.reject(new Error(`not confirmed by the broker: no connection within ${WAIT_FOR_CONNECTION_MS / 1000} s`));
    }, WAIT_FOR_CONNECTION_MS);
    entry.timer.unref();
    this.waiting.push(entry);
    // Only the channel closed (the connection is up): open another now rather than at the next reconnect.
    if (this.connection && this.waiting.length === 1) queueMicrotask(() => this.sendWaiting());
  }

  private sendWaiting(): void {
    this.open().then(
      (channel) => {
        const waiting = this.waiting;
        this.waiting = [];
        for (const entry of waiting) {
          clearTimeout(entry.timer);
          this.sendOn(channel, entry);
        }
      },
      () => undefined, // the connection went again: the next use() tries again
    );
  }

  private tooLarge(target: string, bytes: number): Error {
    return new Error(
      `the broker refused the message for ${target}: ${bytes} bytes, over its max_message_size of ${this.maxMessageBytes} bytes (publish less, or raise max_message_size in rabbitmq.conf)`,
    );
  }

  private open(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    const connection = this.connection;
    if (!connection) return Promise.reject(new Error('not connected to the broker'));
    const opening = connection.createConfirmChannel().then((channel) => {
      channel.on('return', (message: { fields: Route }) => this.onReturn(message.fields));
      channel.on('error', (err: Error) => {
        const max = /larger than configured max size (\d+)/.exec(err.message);
        if (max) {
          this.maxMessageBytes = Number(max[1]);
          return this.log.warn({ maxMessageBytes: this.maxMessageBytes }, `the broker refused a message over its max_message_size of ${max[1]} bytes`);
        }
        const missing = missingExchangeOf(err);
        if (missing === undefined) return this.log.warn({ err }, 'publishing channel error');
        // Said once here, without the stack: the messages for it fail with the cause (missingExchange).
        this.closedFor.set(channel, missing);
        this.lookedUp.delete(missing);
        if (this.exchanges.has(missing)) {
          this.log.warn({ exchange: missing }, `${exchangeGone(missing)}; the attempts that published to it fail and are retried after their backoff`);
          this.onExchangeMissing(missing);
        } else this.log.warn({ exchange: missing }, `the broker refused a publish: ${noExchange(missing)}`);
      });
      channel.on('close', () => {
        if (this.channel === opening) this.channel = null;
        if (this.ready === channel) this.ready = null;
      });
      if (this.channel === opening) this.ready = channel;
      return channel;
    });
    opening.catch(() => {
      if (this.channel === opening) this.channel = null;
    });
    this.channel = opening;
    return opening;
  }

  /** Why a publish to an exchange missing on the broker failed: Warren declares its own again, not another application's. */
  private missingExchange(name: string): Error {
    return new Error(this.exchanges.has(name) ? exchangeGone(name) : noExchange(name));
  }

  /** Confirms come in publish order, so the confirmed entry is the oldest: O(1) on the hot path. */
  private confirmed(entry: Pending): void {
    if (this.pending[this.head] === entry) this.head++;
    else {
      const at = this.pending.indexOf(entry, this.head);
      if (at >= 0) this.pending.splice(at, 1);
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  private onReturn({ exchange, routingKey }: Route): void {
    for (let i = this.head; i < this.pending.length; i++) {
      const entry = this.pending[i]!;
      if (!entry.returned && entry.exchange === exchange && entry.routingKey === routingKey) {
        entry.returned = true;
        return;
      }
    }
  }
}

export type { Channel };

/** A strict queue publish that nothing took: what to do differs for a handler's queue and Warren's own. */
function noQueue({ name, own }: PublishTarget): string {
  const fix = own
    ? 'Warren declares it at start, so it was deleted on the broker since: restart `warren start` to declare it again (the message is held and tried again, then handed back to its queue: nothing is lost)'
    : 'check the name, or declare the queue under queues: in queues.yaml';
  return `no queue "${name}" on the broker: nothing took the message published to it through the default exchange; ${fix}`;
}

/** The exchange a channel error says is missing (`404 … no exchange 'x' in vhost 'v'`), if that is what closed it. */
function missingExchangeOf(err: Error): string | undefined {
  if ((err as { code?: unknown }).code !== 404) return undefined;
  return /no exchange '((?:[^']|'(?! in vhost))*)' in vhost/.exec(err.message)?.[1];
}

/** An exchange queues.yaml declares, deleted on the broker since the runtime declared it. */
function exchangeGone(name: string): string {
  return `exchange ${name} does not exist on the broker (deleted while the runtime ran?): Warren declares it again, with its bindings`;
}

/** An exchange queues.yaml does not declare, not on the broker. */
function noExchange(name: string): string {
  return `no exchange "${name}" on the broker: declare it under exchanges: in queues.yaml, or publish to one that exists`;
}
