/**
 * The dashboard's live stream (`GET /events`, server-sent events): one ticker for every open page,
 * so three dashboards cost what one does. It ticks every second from the moment the admin API
 * starts, whether a page is open or not, and keeps the last minutes of frames: a page opened during
 * an incident draws the minutes before it at once, as RabbitMQ's management UI does. While no page
 * watches, the source may read queue depths less often (the broker is asked for them at most every
 * few seconds; ./start-admin.ts).
 */
import type { FunctionStatus } from '../supervisor/supervisor';
import type { FunctionView } from './view';
import { historyOf, liveFunction, type LiveFrame, type Sample } from './live-frame';
import type { DelayedCounts } from './wire-types';

export interface LiveSource {
  /**
   * one read of the runtime: state, the supervisor's status and the views built from it; `watched`
   * says whether a page is open (without one, queue depths may be a few seconds old)
   */
  read(watched: boolean): Promise<{
    state: string;
    ready: boolean;
    why: string | null;
    status: readonly FunctionStatus[];
    views: readonly FunctionView[];
    /** what the project's files were warned about when last read */
    warnings?: readonly string[];
    /** delayed messages in the delay ladder */
    delayed?: DelayedCounts;
  }>;
}

/** What the feed needs of an HTTP response. */
export interface LiveClient {
  write(chunk: string): unknown;
  /** bytes queued but not sent yet: a page that stopped reading is dropped */
  readonly writableLength: number;
  end(): void;
}

export interface LiveFeedOptions {
  source: LiveSource;
  intervalMs?: number;
  /** frames kept for a page that connects */
  historySize?: number;
  /** rates and latency quantiles cover this many ticks */
  windowTicks?: number;
  onError?(err: unknown): void;
}

const MAX_BACKLOG_BYTES = 1 << 20;

export class LiveFeed {
  private readonly clients = new Set<LiveClient>();
  private readonly frames: LiveFrame[] = [];
  private readonly samples = new Map<string, Sample[]>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private readonly intervalMs: number;
  private readonly historySize: number;
  private readonly windowTicks: number;

  constructor(private readonly options: LiveFeedOptions) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.historySize = options.historySize ?? 300;
    this.windowTicks = options.windowTicks ?? 5;
  }

  get listeners(): number {
    return this.clients.size;
  }

  /** Sends the history, then a frame every tick; returns the unsubscribe. */
  subscribe(client: LiveClient): () => void {
    this.clients.add(client);
    client.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify({ intervalMs: this.intervalMs, ...historyOf(this.frames) })}\n\n`);
    const last = this.frames[this.frames.length - 1];
    if (last) client.write(`event: frame\ndata: ${JSON.stringify(last)}\n\n`);
    this.start();
    return () => {
      this.clients.delete(client);
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  /** Begin ticking (the admin API calls it as it starts; the first page would otherwise). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const frame = await this.frame();
      this.frames.push(frame);
      if (this.frames.length > this.historySize) this.frames.shift();
      const line = `event: frame\ndata: ${JSON.stringify(frame)}\n\n`;
      for (const client of this.clients) {
        if (client.writableLength > MAX_BACKLOG_BYTES) {
          this.clients.delete(client);
          client.end();
        } else client.write(line);
      }
    } catch (err) {
      this.options.onError?.(err);
    } finally {
      this.ticking = false;
    }
  }

  private async frame(): Promise<LiveFrame> {
    const { state, ready, why, status, views, warnings = [], delayed = null } = await this.options.source.read(this.clients.size > 0);
    const at = Date.now();
    const byName = new Map(status.map((s) => [s.name, s]));
    const functions = views.map((view) => {
      const s = byName.get(view.name);
      const sample: Sample = s
        ? {
            at,
            handled: s.stats.acked + s.stats.dead + s.stats.dropped,
            failed: s.stats.dead + s.stats.dropped,
            retried: s.stats.retried,
            buckets: s.stats.latency,
            backlog: view.queueDepth === null || view.retryDepth === null ? null : view.queueDepth + view.inFlight + view.retryDepth,
          }
        : { at, handled: 0, failed: 0, buckets: [] };
      const kept = this.samples.get(view.name) ?? [];
      const live = liveFunction(view, sample, kept[Math.max(0, kept.length - this.windowTicks)]);
      kept.push(sample);
      if (kept.length > this.windowTicks) kept.shift();
      this.samples.set(view.name, kept);
      return live;
    });
    for (const name of this.samples.keys()) if (!views.some((v) => v.name === name)) this.samples.delete(name);
    return { t: at, state, ready, why: ready ? null : why, warnings: [...warnings], functions, delayed };
  }
}
