/**
 * Turns file changes into reloads, one at a time: changes that arrive during a reload are applied by
 * one more reload right after it, and nothing reloads before the runtime runs (a change seen while it
 * still connects waits for it).
 */
export interface Reloader {
  /** a change was seen */
  request(paths: readonly string[]): void;
  /** resolves when no reload runs or waits */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface ReloaderDeps {
  reload(): Promise<unknown>;
  /** the runtime runs and can take a reload */
  ready(): boolean;
  onError(err: unknown): void;
  /** how often to check ready() while waiting */
  pollMs?: number;
}

export function createReloader(deps: ReloaderDeps): Reloader {
  let pending = false;
  let closed = false;
  let running: Promise<void> | null = null;

  const loop = async (): Promise<void> => {
    while (pending && !closed) {
      if (!deps.ready()) {
        await new Promise((resolve) => setTimeout(resolve, deps.pollMs ?? 50));
        continue;
      }
      pending = false;
      try {
        await deps.reload();
      } catch (err) {
        deps.onError(err);
      }
    }
  };

  return {
    request() {
      if (closed) return;
      pending = true;
      running ??= loop().finally(() => {
        running = null;
      });
    },
    async idle() {
      while (running) await running;
    },
    async close() {
      closed = true;
      await running;
    },
  };
}
