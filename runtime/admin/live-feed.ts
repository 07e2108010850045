/**
 * The dashboard's live stream (`GET /events`, server-sent events): one ticker for every open page,
 * so three dashboards cost what one does. It starts with the first page, ticks every second, keeps
 * the last minutes of frames (a page that opens gets its charts filled at once) and stops a while
 * after the last page closed.
 */
import type { FunctionStatus } from '../supervisor/supervisor';
import type { FunctionView } from './view';
import { historyOf, liveFunction, type LiveFrame, type Sample } from './live-frame';

export interface LiveSource {
  /** one read of the runtime: state, the supervisor's status and the views built from it */
  read(): Promise<{ state: string; ready: boolean; why: string | null; status: readonly FunctionStatus[]; views: readonly FunctionView[] }>;
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
  /** ticking goes on this long after the last page closed */
  lingerMs?: number;
  /** the latency quantiles cover this many ticks */
  latencyWindow?: number;
  onError?(err: unknown): void;
}

const MAX_BACKLOG_BYTES = 1 << 20;

export class LiveFeed {
  private readonly clients = new Set<LiveClient>();
  private readonly frames: LiveFrame[] = [];
  private readonly samples = new Map<string, Sample[]>();
  private timer: NodeJS.Timeout | null = null;
  private idleSince = 0;
  private ticking = false;
  private readonly intervalMs: number;
  private readonly historySize: number;
  private readonly lingerMs: number;
  private readonly latencyWindow: number;

  constructor(private readonly options: LiveFeedOptions) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.historySize = options.historySize ?? 300;
    this.lingerMs = options.lingerMs ?? 5 * 60_000;
    this.latencyWindow = options.latencyWindow ?? 5;
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
      if (this.clients.size === 0) this.idleSince = Date.now();
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    if (this.clients.size === 0 && Date.now() - this.idleSince > this.lingerMs) {
      clearInterval(this.timer!);
      this.timer = null;
      return;
    }
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
    const { state, ready, why, status, views } = await this.options.source.read();
    const at = Date.now();
    const byName = new Map(status.map((s) => [s.name, s]));
    const functions = views.map((view) => {
      const s = byName.get(view.name);
      const sample: Sample = s
        ? {
            at,
            handled: s.stats.acked + s.stats.dead + s.stats.dropped,
            failed: s.stats.retried + s.stats.dead + s.stats.dropped,
            buckets: s.stats.buckets,
            left: s.stats.acked + s.stats.dead + s.stats.dropped + s.stats.retried,
            backlog: view.queueDepth === null ? null : view.queueDepth + view.inFlight,
          }
        : { at, handled: 0, failed: 0, buckets: [] };
      const kept = this.samples.get(view.name) ?? [];
      const live = liveFunction(view, sample, kept[kept.length - 1], kept[Math.max(0, kept.length - this.latencyWindow)]);
      kept.push(sample);
      if (kept.length > this.latencyWindow) kept.shift();
      this.samples.set(view.name, kept);
      return live;
    });
    for (const name of this.samples.keys()) if (!views.some((v) => v.name === name)) this.samples.delete(name);
    return { t: at, state, ready, why: ready ? null : why, functions };
  }
}
