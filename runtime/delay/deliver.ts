/**
 * The delay ladder's last step (./ladder.ts says why there is one): take a message from the deliver
 * queue, hold it until it is due (the last HOLD_MS of its delay), publish it to its own exchange with
 * its own routing key, and ack it only once the broker confirmed that publish. A crash in between
 * leaves the message with the broker, which hands it to another forwarder (or this one after a
 * restart); `due` is absolute, so the hold resumes where it was. Nothing is ever acked unconfirmed.
 *
 * Every Warren instance runs one forwarder; they share the deliver queue as competing consumers.
 *
 * A message nothing takes when it comes due (no queue bound for its routing key, or the queue it names
 * through the default exchange is gone) comes back as a return before its confirm, and is moved to
 * warren.delay.undeliverable rather than acked away: a delayed message is never dropped silently.
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import { DELIVER, HOLD_MS, UNDELIVERABLE, UNIT_MS, forwardOf } from './ladder';
import { publishConfirmed } from './confirm';
import { publishOptions } from '../connection/publish-options';

/**
 * Messages held or forwarded side by side. Each is held at most HOLD_MS + UNIT_MS (./ladder.ts), so
 * this covers 2,000 messages coming due within that window (more wait their turn in the deliver queue
 * and run late); confirms are pipelined.
 */
const PREFETCH = 2_000;
/** Capped, so a publisher whose clock runs ahead of this machine's cannot hold messages back for long. */
const MAX_HOLD_MS = HOLD_MS + UNIT_MS + 1_000;

/** A forward awaiting its confirm; the broker's return, if any, comes first (in publish order). */
interface Sent {
  exchange: string;
  routingKey: string;
  returned: boolean;
}

export interface ForwarderDeps {
  log: Logger;
  /** exchanges known to exist (declared from queues.yaml, the amq.* ones); others are checked first */
  known: ReadonlySet<string>;
  now?: () => number;
}

export class DelayForwarder {
  private channel: ConfirmChannel | null = null;
  private checks: Channel | null = null;
  private connection: ChannelModel | null = null;
  /** forwards sent and not confirmed yet, in publish order (returns and confirms come in that order) */
  private sent: Sent[] = [];
  private readonly now: () => number;
  forwarded = 0;
  /** messages taken from the deliver queue and not settled yet: held for their last seconds, or being forwarded */
  holding = 0;
  /** the largest lateness seen (ms after due, by the publisher's clock) */
  latestMs = 0;

  constructor(private readonly deps: ForwarderDeps) {
    this.now = deps.now ?? Date.now;
  }

  async attach(connection: ChannelModel): Promise<void> {
    this.connection = connection;
    const channel = await connection.createConfirmChannel();
    channel.on('error', (err: Error) => this.deps.log.warn({ err }, 'delay forwarder channel error'));
    this.sent = [];
    channel.on('return', (message: ConsumeMessage) => {
      const { exchange, routingKey } = message.fields;
      const sent = this.sent.find((s) => !s.returned && s.exchange === exchange && s.routingKey === routingKey);
      if (sent) sent.returned = true;
    });
    await channel.prefetch(PREFETCH, false);
    this.channel = channel;
    await channel.consume(DELIVER, (message) => {
      if (message) void this.forward(channel, message);
    });
  }

  detach(): void {
    this.channel = null;
    this.checks = null;
    this.connection = null;
  }

  private async forward(channel: ConfirmChannel, message: ConsumeMessage): Promise<void> {
    const target = forwardOf(message.properties.headers);
    this.holding++;
    try {
      if (!target) return await this.reject(channel, message, 'it carries no x-warren-delay-exchange header');
      if (!(await this.exists(target.exchange))) return await this.reject(channel, message, `exchange "${target.exchange}" does not exist`);
      if (target.due !== undefined) await this.holdUntil(target.due);
      // Detached while held (stopping, or the connection was lost): the broker has the message back.
      if (this.channel !== channel) return;
      // The expiration was the message's wait in the ladder, not its own.
      const options = publishOptions(message.properties, { headers: target.headers, mandatory: true, expiration: null });
      const sent: Sent = { exchange: target.exchange, routingKey: target.routingKey, returned: false };
      this.sent.push(sent);
      try {
        await publishConfirmed(channel, target.exchange, target.routingKey, message.content, options);
      } finally {
        const at = this.sent.indexOf(sent);
        if (at >= 0) this.sent.splice(at, 1);
      }
      if (sent.returned) {
        const where =
          target.exchange === '' ? `queue "${target.routingKey}" does not exist` : `no queue is bound to "${target.exchange}" for "${target.routingKey}"`;
        return await this.reject(channel, message, `it was unroutable when it came due: ${where}`);
      }
      channel.ack(message);
      this.forwarded++;
      if (target.due !== undefined) this.latestMs = Math.max(this.latestMs, this.now() - target.due);
    } catch (err) {
      // The channel closed under us: the broker returns the message to the deliver queue. Said only
      // when it closed on its own: a stop or a lost connection is logged where it happens.
      const level = this.channel === channel ? 'warn' : 'debug';
      this.deps.log[level]({ err, messageId: message.properties.messageId }, 'could not forward a delayed message; it stays in the deliver queue');
    } finally {
      this.holding--;
    }
  }

  /**
   * Until `due` by this machine's clock, at most MAX_HOLD_MS. A timer can fire a millisecond before
   * Date.now() reaches its end (Node counts from the event loop's cached time), so the clock is read
   * again after each wait: the message is never forwarded before it is due.
   */
  private async holdUntil(due: number): Promise<void> {
    const until = Math.min(due, this.now() + MAX_HOLD_MS);
    // Unref'd: a held message does not keep a stopping process alive (the broker has it back).
    for (let wait = until - this.now(); wait > 0; wait = until - this.now()) await new Promise((resolve) => setTimeout(resolve, wait).unref());
  }

  /** Into warren.delay.undeliverable (the deliver queue's dead-letter route), with the reason logged. */
  private async reject(channel: ConfirmChannel, message: ConsumeMessage, why: string): Promise<void> {
    const target = forwardOf(message.properties.headers);
    this.deps.log.error(
      { messageId: message.properties.messageId, queue: UNDELIVERABLE, exchange: target?.exchange, routingKey: target?.routingKey },
      `a delayed message cannot be delivered: ${why}; it is kept in ${UNDELIVERABLE}`,
    );
    channel.nack(message, false, false);
  }

  /** Checked on a channel of its own: a missing exchange closes the channel that asked. */
  private async exists(exchange: string): Promise<boolean> {
    if (exchange === '' || this.deps.known.has(exchange)) return true;
    const connection = this.connection;
    if (!connection) throw new Error('not connected');
    try {
      if (!this.checks) {
        const checks = await connection.createChannel();
        checks.on('error', () => undefined);
        this.checks = checks;
      }
      await this.checks.checkExchange(exchange);
      return true;
    } catch (err) {
      this.checks = null;
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  }
}
