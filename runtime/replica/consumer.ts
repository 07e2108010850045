/**
 * A replica's subscription to its queue: its own amqplib connection and channel, reconnected and
 * resubscribed with backoff when the broker goes away.
 *
 * Why not rascal's subscription (rascal declares the topology, in the main thread): this is the hot
 * path, and rascal adds timers and lodash work to every message and acks them one frame at a time.
 * Here acks are coalesced (./ack-batch.ts); a multiple ack never covers a message that is not settled.
 *
 * A cluster: `url` lists its nodes. The replica begins at `startAt` in the list (so replicas spread)
 * and, when its node goes away, moves to the next node that answers at once; only when no node
 * answers does it back off.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connectToAny, writeQueuedFrames } from '../connection/connect';
import { ReconnectReport, reconnectProblem } from '../connection/unreachable';
import { nextStart, splitUrls } from '../connection/urls';
import { RECONNECT_MAX_MS } from '../connection/backoff';
import type { Logger } from 'pino';
import { Settle, type Delivery } from './delivery';
import { AckBatch } from './ack-batch';
import { RecentDeliveries } from './lost-connection';
import type { Placement } from '../replica-protocol/placement';
import { sleep } from '../lib/sleep';

export interface ConsumerOptions {
  /** one AMQP URL, or a cluster's, comma-separated */
  url: string;
  /** where in the list of URLs to begin */
  startAt?: number;
  socketOptions?: Record<string, unknown>;
  queue: string;
  prefetch: number;
  log: Logger;
  /** called synchronously for every delivery; `settle` is its one settlement */
  onMessage(delivery: Delivery, settle: Settle): void;
  /** the connection dropped (false) or is back and consuming again (true), on `node` (`host:port`) */
  onConnection(up: boolean, node: string | null): void;
  /** a reconnect failed: `problem` says what must be fixed, null for a node that is only down (retried) */
  onReconnectFailed?(problem: string | null): void;
  /**
   * the connection was lost (not closed by `close`): `recent` are its last deliveries, the ones the
   * broker may still count unacked and hands back (./lost-connection.ts); called before `onConnection`
   */
  onLost?(recent: Settle[]): void;
  /** the connection itself once consuming, null once lost: the publisher shares it */
  attach?(connection: ChannelModel | null): void;
  /** the queue is not on the broker (deleted while the runtime ran): the runtime declares it again */
  onQueueMissing?(): void;
  /** a cluster: where the function's other replicas consume, so that a lost node's replicas spread by count (../replica-protocol/placement.ts) */
  placement?: Pick<Placement, 'at' | 'next'>;
  retry?: { minMs: number; maxMs: number };
}

/** `cancel`: no delivery for this long with acks kept back, and none is on its way */
const QUIET_MS = 50;
/** `cancel`: the longest it keeps acks back waiting for that (an ordered function: up to its grace) */
const CANCEL_WAIT_MS = 1_000;
const DEFAULT_RETRY = { minMs: 1_000, maxMs: RECONNECT_MAX_MS };
/** Several nodes: the next one is tried at once, and a round that found none waits less at first. */
const CLUSTER_RETRY = { minMs: 250, maxMs: RECONNECT_MAX_MS };

/** amqplib's ack/nack read only `fields.deliveryTag`. */
function fake(deliveryTag: number): ConsumeMessage {
  return { fields: { deliveryTag } } as ConsumeMessage;
}

export class QueueConsumer {
  private connection: ChannelModel | null = null;
  private channel: Channel | null = null;
  private acks: AckBatch | null = null;
  private recent: RecentDeliveries | null = null;
  private consumerTag: string | null = null;
  private closing = false;
  private cancelled = false;
  private retryMs: number;
  /** how failed reconnects are said: in words, a repeat at most once a minute */
  private readonly reconnects = new ReconnectReport();
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly retry: { minMs: number; maxMs: number };
  private readonly cluster: boolean;
  /** the replica's own offset (`startAt`): which other node it tries first, so replicas spread */
  private readonly spread: number;
  private readonly nodes: number;
  /** where the next connection attempt begins in the list */
  private cursor: number;
  /** the index in the list of the node consumed from, while connected (null before) */
  private nodeIndex: number | null = null;
  /** `host:port` of the node consumed from, null while down */
  node: string | null = null;
  /** the channel whose consumer `pause` cancelled, until `resume` */
  private pausedOn: Channel | null = null;
  /** consume again on the current channel, with the same callback; resolves with the consumer tag */
  private reconsume: (() => Promise<string>) | null = null;
  /** pauses and resumes, one after the other */
  private pauses: Promise<void> = Promise.resolve();

  constructor(private readonly options: ConsumerOptions) {
    this.nodes = splitUrls(options.url).length;
    this.cluster = this.nodes > 1;
    this.spread = options.startAt ?? 0;
    this.retry = options.retry ?? (this.cluster ? CLUSTER_RETRY : DEFAULT_RETRY);
    this.retryMs = this.retry.minMs;
    this.cursor = options.startAt ?? 0;
  }

  /** Connect and consume; rejects when the first attempt fails (the supervisor restarts the replica). */
  async start(): Promise<void> {
    await this.subscribe().catch((err: unknown) => {
      this.missing(err);
      throw err;
    });
  }

  /** A consume refused with 404: the queue is gone from the broker. */
  private missing(err: unknown): void {
    if ((err as { code?: unknown } | null)?.code === 404) this.options.onQueueMissing?.();
  }

  /** Deliveries this replica holds unsettled. */
  get outstanding(): number {
    return this.acks?.outstanding ?? 0;
  }

  /** Send the acks waiting to be coalesced now (before a suspect runs alone: ./suspects.ts). */
  flushAcks(): void {
    this.acks?.flush();
  }

  /** The thread ends now (process.exit, a crash): the acks waiting, held ones too, and those amqplib has queued, go to the socket in this very turn. */
  flushAcksNow(): void {
    this.acks?.flush(true);
    if (this.connection) writeQueuedFrames(this.connection);
  }

  /**
   * Send the acks waiting to be coalesced and resolve once the broker has them: an ack has no reply,
   * but a channel's frames are taken in order, so the reply to a request sent after them (basic.qos,
   * the prefetch as it is) says they arrived. Before suspects start (./suspects.ts): an ack still in
   * the socket when a suspect kills the replica is lost with it, and its message comes back charged
   * with that death, and runs twice.
   */
  async syncAcks(): Promise<void> {
    this.acks?.flush();
    await this.channel?.prefetch(this.options.prefetch, false).catch(() => undefined);
  }

  /**
   * Stop taking messages; acks of the ones in flight still go out. A delivery the broker has sent
   * and the replica not yet read when the cancel lands is not handed to the replica: it comes back
   * to the queue when the channel closes, counted as delivered once more, and runs again as a
   * suspect (a scale-down or a redeploy under a backlog charged good messages a redelivery, and
   * dead-lettered some). So acks are kept back first, until the window is full or no delivery came
   * for QUIET_MS: then nothing is on its way. `ready` (an ordered function: its message has finished)
   * must hold too, for up to `waitMs`; the single active consumer passes on only once it is true.
   */
  async cancel(ready: () => boolean = () => true, waitMs = 0): Promise<void> {
    this.cancelled = true;
    const { channel, consumerTag } = this;
    if (channel && consumerTag) await this.cancelQuietly(channel, consumerTag, ready, waitMs);
  }

  /** `cancel`'s basic.cancel once nothing is on its way (ready() true, or waitMs over). */
  private async cancelQuietly(channel: Channel, consumerTag: string, ready: () => boolean = () => true, waitMs = 0): Promise<void> {
    const acks = this.acks;
    if (!acks) return void (await channel.cancel(consumerTag).catch(() => undefined));
    acks.hold();
    try {
      const began = Date.now();
      let seen = acks.unacked;
      let quietSince = began;
      for (;;) {
        const now = Date.now();
        if (acks.unacked !== seen) [seen, quietSince] = [acks.unacked, now];
        const still = acks.unacked >= this.options.prefetch || now - quietSince >= QUIET_MS;
        if ((still && ready()) || now - began >= Math.max(CANCEL_WAIT_MS, waitMs) || !acks.holds()) break;
        await sleep(2);
      }
      await channel.cancel(consumerTag).catch(() => undefined);
    } finally {
      acks.release();
    }
  }

  /**
   * Stop the broker's deliveries for a while (a suspect runs alone: ./suspects.ts); resolves once the
   * broker confirmed, so nothing more arrives. Deliveries in hand stay in hand.
   */
  pause(): Promise<void> {
    const paused = this.pauses.then(async () => {
      const { channel, consumerTag } = this;
      if (!channel || !consumerTag || this.cancelled || this.closing) return;
      this.consumerTag = null;
      this.pausedOn = channel;
      // A delivery on its way when the cancel lands would stay with the cancelled consumer, unseen,
      // until the channel closes, and then come back counted (see `cancel`).
      await this.cancelQuietly(channel, consumerTag);
    });
    this.pauses = paused;
    return paused;
  }

  /** Consume again after `pause`; nothing when the channel it paused went (a reconnect consumes anew) or the replica stops. */
  resume(): void {
    this.pauses = this.pauses.then(async () => {
      const channel = this.pausedOn;
      this.pausedOn = null;
      const reconsume = this.reconsume;
      if (!channel || channel !== this.channel || !reconsume || this.cancelled || this.closing) return;
      const consumerTag = await reconsume().catch(() => null);
      // the channel went meanwhile: the reconnect consumes anew
      if (consumerTag === null || this.channel !== channel) return;
      if (this.cancelled) await channel.cancel(consumerTag).catch(() => undefined);
      else this.consumerTag = consumerTag;
    });
  }

  /** Send the last acks and close the connection. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.acks?.flush();
    // Closing the channel first: its close-ok comes back only after the broker has processed every
    // ack sent on it, whereas a connection close can overtake acks still on their way to the queue.
    const channel = this.channel;
    this.channel = null;
    if (channel) await channel.close().catch(() => undefined);
    const connection = this.connection;
    this.connection = null;
    if (connection) await connection.close().catch(() => undefined);
  }

  private async subscribe(): Promise<void> {
    const found = await connectToAny(this.options.url, {
      startAt: this.cursor,
      spread: this.spread,
      ...(this.options.socketOptions ? { socketOptions: this.options.socketOptions } : {}),
    });
    const connection = found.connection;
    // The next attempt begins at another node: when this one goes away, it is the one least likely to
    // answer. Which other depends on the replica, so the replicas of a lost node spread over the rest.
    this.cursor = nextStart(found.index, this.nodes, this.spread);
    this.nodeIndex = found.index;
    if (this.cluster) this.options.placement?.at(found.index);
    this.node = found.node;
    this.connection = connection;
    try {
      await this.consumeOn(connection);
    } catch (err) {
      // Not consuming: this connection must not count as lost (no second reconnect), just go.
      this.connection = null;
      this.node = null;
      this.options.attach?.(null);
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  private async consumeOn(connection: ChannelModel): Promise<void> {
    const { queue, prefetch, log } = this.options;
    // The close that follows says it in words ("lost the broker connection; … reconnecting"): the socket's error and stack are for debugging.
    connection.on('error', (err: Error) => log.debug({ err }, 'consumer connection error'));
    connection.on('close', () => this.lost(connection));
    const channel = await connection.createChannel();
    channel.on('error', (err: Error) => log.warn({ err }, 'consumer channel error'));
    channel.on('close', () => {
      if (this.channel !== channel) return; // closed by close()
      // A channel closed by the broker (queue deleted, precondition) takes the connection down too,
      // so recovery happens in one place.
      if (!this.closing && this.connection === connection) void connection.close().catch(() => undefined);
    });
    await channel.prefetch(prefetch, false);
    const acks = new AckBatch(
      {
        ack: (tag, multiple) => channel.ack(fake(tag), multiple),
        nack: (tag, requeue) => channel.nack(fake(tag), false, requeue),
        sent: () => writeQueuedFrames(connection),
      },
      { window: prefetch },
    );
    const recent = new RecentDeliveries(prefetch);
    this.channel = channel;
    this.acks = acks;
    this.recent = recent;
    // Before consuming: the first deliveries can arrive in the same read as consume-ok, ahead of
    // the code after `await consume`, and may need to publish at once (a retry, a move).
    this.options.attach?.(connection);
    const onDelivery = (message: ConsumeMessage | null): void => {
      if (!message) {
        log.warn({ queue }, 'the broker cancelled the consumer (queue deleted?); resubscribing');
        void connection.close().catch(() => undefined);
        return;
      }
      const tag = message.fields.deliveryTag;
      acks.delivered(tag);
      const delivery = message as unknown as Delivery;
      const settle = new Settle(acks, tag, recent.known(delivery));
      recent.add(settle);
      this.options.onMessage(delivery, settle);
    };
    const consume = async () => (await channel.consume(queue, onDelivery)).consumerTag;
    this.pausedOn = null;
    this.reconsume = consume;
    this.consumerTag = await consume();
    this.retryMs = this.retry.minMs;
  }

  private lost(connection: ChannelModel): void {
    if (this.connection !== connection) return;
    const node = this.node;
    this.node = null;
    this.options.attach?.(null);
    this.acks?.kill();
    const recent = this.recent;
    this.recent = null;
    this.connection = null;
    this.channel = null;
    this.consumerTag = null;
    if (this.closing) {
      this.options.placement?.at(null);
      return;
    }
    // Where the function's other replicas are, the node with the fewest of them (not this one) is tried first.
    if (this.cluster && this.options.placement && this.nodeIndex !== null) this.cursor = this.options.placement.next(this.nodeIndex, this.nodes, this.spread);
    const retryInMs = this.cluster ? 0 : this.retryMs;
    this.options.log.warn({ node, retryInMs }, 'lost the broker connection; its unacked messages return to the queue; reconnecting');
    if (recent) this.options.onLost?.(recent.list());
    this.options.onConnection(false, null);
    this.scheduleReconnect(this.cluster ? 0 : undefined);
  }

  private scheduleReconnect(now?: number): void {
    if (this.closing || this.cancelled) return;
    const delay = now ?? this.retryMs;
    if (now === undefined) this.retryMs = Math.min(this.retry.maxMs, this.retryMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.subscribe().then(
        () => {
          this.reconnects.reset();
          this.options.log.info({ node: this.node }, 'reconnected and consuming again');
          this.options.onConnection(true, this.node);
        },
        (err: Error) => {
          const problem = reconnectProblem(this.options.url, err);
          const said = this.reconnects.failed(this.options.url, err, this.retryMs);
          this.options.log[said.level](said.fields, `reconnect failed: ${said.message}`);
          this.options.onReconnectFailed?.(problem?.reason ?? null);
          this.missing(err);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }
}
