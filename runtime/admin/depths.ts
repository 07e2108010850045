/**
 * Queue depths read from the broker itself (no management plugin needed): `checkQueue` on one
 * dedicated connection and one channel kept open across checks. A missing queue (404) closes that
 * channel: its check answers null, the checks queued behind it on the channel are asked again on a
 * new one. (A channel opened and closed per check cost the broker and the runtime three round trips
 * a queue: a /metrics scrape asks for four queues a function, the dashboard's feed for two dozen.)
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

export class QueueDepths {
  private connection: Promise<Connection> | null = null;
  private channel: Promise<Channel> | null = null;
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
    this.channel = null;
    if (connection) await connection.then((c) => c.close()).catch(() => undefined);
  }

  private async check(queue: string): Promise<QueueDepth | null> {
    // A second try only for a check whose channel a 404 on another queue closed under it.
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return null;
      let channel: Promise<Channel> | null = null;
      try {
        const connection = await this.connect();
        if (!connection) return null;
        channel = this.openChannel(connection);
        const { messageCount, consumerCount } = await withTimeout((await channel).checkQueue(queue), this.timeoutMs);
        return { messages: messageCount, consumers: consumerCount };
      } catch (err) {
        // A check that timed out leaves its request on the channel: the next checks get a new one.
        if (channel && this.channel === channel) this.dropChannel();
        if (attempt === 1 && channel && !notFound(err, queue)) continue;
        this.options.log.debug({ err, queue }, 'queue depth unavailable');
        return null;
      }
    }
  }

  /** The channel the checks share, opened on first use and after a 404 (or a timeout) closed it. */
  private openChannel(connection: Connection): Promise<Channel> {
    if (this.channel) return this.channel;
    const opening = connection.createChannel();
    this.channel = opening;
    opening.then(
      (channel) => {
        // A 404 closes the channel with an error event: keep it from becoming an uncaught exception.
        channel.on('error', () => undefined);
        channel.on('close', () => {
          if (this.channel === opening) this.channel = null;
        });
      },
      () => {
        if (this.channel === opening) this.channel = null;
      },
    );
    return opening;
  }

  private dropChannel(): void {
    const channel = this.channel;
    this.channel = null;
    void channel?.then((c) => c.close()).catch(() => undefined);
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
            this.channel = null;
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

/** The broker closed the channel because `queue` itself does not exist (not another check's queue). */
function notFound(err: unknown, queue: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e.code === 404 && typeof e.message === 'string' && e.message.includes(`'${queue}'`);
}
