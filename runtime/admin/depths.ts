/**
 * Queue depths read from the broker itself (no management plugin needed): `checkQueue` on one
 * dedicated connection. Each check runs on a channel of its own, so a queue slow to answer (its
 * leader on a node that just went away) holds up no other; the channel then waits, open, for the
 * next check (at most MAX_IDLE_CHANNELS wait). A missing queue (404) closes its channel, which is
 * not reused. (A channel opened and closed per check cost the broker and the runtime three round
 * trips a queue: a /metrics scrape asks for four queues a function, the dashboard's feed for two dozen.)
 * Results are cached for a quarter of a second, so the reads of one moment (/metrics, /functions and
 * `warren status` together, a busy Prometheus) share one check, while a request made after the last
 * message was handled does not show it still queued (with a second, `warren status` right after a
 * drain showed 16 queued of 40 handled);
 * the live feed's reads are kept apart: a request is never answered with one of those, read while the last
 * messages were perhaps still queued.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { connectToAny } from '../connection/connect';
import type { Logger } from 'pino';
import { redactUrl } from '../errors';
import { withTimeout } from '../lib/with-timeout';
import { closeWithin } from '../connection/close';

export interface QueueDepth {
  messages: number;
  consumers: number;
}

export interface DepthsOptions {
  /** the broker URL, or undefined while the config is not loaded yet */
  url: () => string | undefined;
  log: Logger;
  ttlMs?: number;
  /** a dead-letter read holds this queue's messages for now: keep showing the depth read before it */
  held?: (queue: string) => boolean;
  /** a check that takes longer answers "unknown" rather than holding up /metrics */
  timeoutMs?: number;
}

type Connection = ChannelModel;

/**
 * channels kept open between checks: enough for the checks of one moment (a scrape, a feed tick) of
 * a project of a few functions and the delay ladder; a larger one opens the rest per check, as before
 */
const MAX_IDLE_CHANNELS = 32;

export class QueueDepths {
  private connection: Promise<Connection> | null = null;
  /** open channels no check is using */
  private idle: Channel[] = [];
  private readonly cache = new Map<string, { at: number; value: Promise<QueueDepth | null>; background: boolean }>();
  private closed = false;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: DepthsOptions) {
    this.ttlMs = options.ttlMs ?? 250;
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  /**
   * Messages ready in `queue` and its consumers; null when the broker or the queue cannot be reached.
   * `maxAgeMs`: how old a cached answer may be (default: the cache's ttl). `background`: a read for the
   * live feed's charts; its answer is not served to a request (`warren status` right after the last
   * message was handled must not show a depth read while it was still queued), though the feed may
   * use a request's.
   */
  get(queue: string, { maxAgeMs = this.ttlMs, background = false }: { maxAgeMs?: number; background?: boolean } = {}): Promise<QueueDepth | null> {
    const hit = this.cache.get(queue);
    if (hit && this.options.held?.(queue)) return hit.value;
    if (hit && Date.now() - hit.at < maxAgeMs && (background || !hit.background)) return hit.value;
    const value = this.check(queue);
    this.cache.set(queue, { at: Date.now(), value, background });
    return value;
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = null;
    this.idle = [];
    if (connection) await connection.then((c) => closeWithin(c)).catch(() => undefined);
  }

  /** Whether `queue` is on the broker, read now: false only on the broker's 404, null when it cannot tell. */
  async exists(queue: string): Promise<boolean | null> {
    try {
      await this.ask(queue);
      return true;
    } catch (err) {
      return (err as { code?: unknown } | null)?.code === 404 ? false : null;
    }
  }

  private async check(queue: string): Promise<QueueDepth | null> {
    try {
      const { messageCount, consumerCount } = await this.ask(queue);
      return { messages: messageCount, consumers: consumerCount };
    } catch (err) {
      this.options.log.debug({ err, queue }, 'queue depth unavailable');
      return null;
    }
  }

  /** The broker's checkQueue answer, on a channel of the pool; throws its 404, a timeout, or that there is no broker to ask. */
  private async ask(queue: string): Promise<{ messageCount: number; consumerCount: number }> {
    const connection = this.closed ? null : await this.connect();
    if (!connection) throw new Error('no broker to ask: closed, or the config is not loaded yet');
    let channel: Channel | null = null;
    try {
      channel = this.idle.pop() ?? (await this.openChannel(connection));
      const answer = await withTimeout(channel.checkQueue(queue), this.timeoutMs);
      if (this.idle.length < MAX_IDLE_CHANNELS && !this.closed) this.idle.push(channel);
      else void channel.close().catch(() => undefined);
      return answer;
    } catch (err) {
      // A 404 closed the channel; one that timed out still has the request on it: neither is reused.
      void channel?.close().catch(() => undefined);
      throw err;
    }
  }

  private async openChannel(connection: Connection): Promise<Channel> {
    const channel = await connection.createChannel();
    // A 404 closes the channel with an error event: keep it from becoming an uncaught exception.
    channel.on('error', () => undefined);
    channel.on('close', () => {
      this.idle = this.idle.filter((c) => c !== channel);
    });
    return channel;
  }

  private async connect(): Promise<Connection | null> {
    const url = this.options.url();
    if (!url) return null;
    if (!this.connection) {
      // A cluster's list: the first node that answers; a lost node is left for another on the next check.
      const opening = connectToAny(url, { timeout: this.timeoutMs, connectionName: 'warren admin (queue depths)', startAt: process.pid }).then(
        (found) => found.connection,
      );
      this.connection = opening;
      opening.then(
        (c) => {
          const forget = () => {
            if (this.connection !== opening) return;
            this.connection = null;
            this.idle = [];
          };
          c.on('error', (err: Error) => this.options.log.debug({ err, url: redactUrl(url) }, 'queue-depth connection error'));
          c.on('close', forget);
          // Closed while connecting: do not leave the connection behind.
          if (this.closed) void c.close().catch(() => undefined);
        },
        () => {
          if (this.connection === opening) this.connection = null;
        },
      );
    }
    return this.connection;
  }
}
