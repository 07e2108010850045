/**
 * Watches a project for what `--watch` reacts to: everything under functions/ (handler files and the
 * modules they import), queues.yaml and rascal.json. Bursts of events (an editor's save, a copy) are
 * debounced into one call with every path that changed.
 */
import { relative, sep } from 'node:path';
import { watch } from 'chokidar';

export const DEBOUNCE_MS = 100;

export interface ProjectWatcher {
  close(): Promise<void>;
}

export interface WatchOptions {
  dir: string;
  onChange(paths: string[]): void;
  onError?(err: unknown): void;
  debounceMs?: number;
}

/** Pure: does a change at `path` concern the running functions? */
export function isWatched(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  if (rel === '') return true;
  if (rel === 'queues.yaml' || rel === 'rascal.json') return true;
  const parts = rel.split(sep);
  return parts[0] === 'functions' && !parts.includes('node_modules') && !parts.some((p) => p.startsWith('.'));
}

export async function watchProject(options: WatchOptions): Promise<ProjectWatcher> {
  const debounceMs = options.debounceMs ?? DEBOUNCE_MS;
  const watcher = watch(options.dir, { ignoreInitial: true, ignored: (path: string) => !isWatched(options.dir, path) });
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  watcher.on('all', (_event, path) => {
    changed.add(path);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const paths = [...changed];
      changed.clear();
      options.onChange(paths);
    }, debounceMs);
  });
  watcher.on('error', (err) => options.onError?.(err));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    async close() {
      if (timer) clearTimeout(timer);
      timer = null;
      await watcher.close();
    },
  };
}
