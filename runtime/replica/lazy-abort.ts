/**
 * A message's ctx.signal, made on first read: most handlers never read it, and an AbortController
 * per message is a measurable share of a no-op handler's cost. Aborted at the timeout, and at
 * shutdown through the replica's shutdown signal (listened to only while the handler runs and only
 * if it read the signal). It is its own shutdown listener (`handleEvent`), so it costs no closure.
 */
export class LazyAbort {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private aborted = false;

  constructor(private readonly shutdown: AbortSignal) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
      else if (this.shutdown.aborted) this.controller.abort(new Error('replica shutting down'));
      else this.shutdown.addEventListener('abort', this, { once: true });
    }
    return this.controller.signal;
  }

  /** The replica's shutdown signal fired. */
  handleEvent(): void {
    this.abort(new Error('replica shutting down'));
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }

  /** The handler settled: stop listening for shutdown (the signal stays as it is). */
  release(): void {
    if (this.controller) this.shutdown.removeEventListener('abort', this);
  }
}
