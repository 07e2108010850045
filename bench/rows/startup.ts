/**
 * Start-up and idle memory: a project of N no-op functions (one replica each, own quorum queue),
 * `warren start` from spawn until /readyz answers 200, each run on a fresh vhost with a fresh build
 * folder (a cold start: every handler built, every queue declared). RSS is read from /proc once idle.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVhost } from '../broker';
import { sleep } from '../stats';
import { createProject, startWarren, waitReady } from '../warren';

export interface StartupRun {
  readyMs: number;
  rssBytes: number;
}

export async function measureStartup(functions: number, runs: number, log: (line: string) => void): Promise<StartupRun[]> {
  const names = Array.from({ length: functions }, (_, i) => `fn${String(i + 1).padStart(2, '0')}`);
  const project = await createProject('functions:\n', Object.fromEntries(names.map((n) => [n, 'export default async () => undefined;\n'])));
  const out: StartupRun[] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      const vhost = await createVhost(`start${functions}`);
      const buildDir = await mkdtemp(join(tmpdir(), 'warren-bench-build-'));
      try {
        const w = await startWarren(project.dir, vhost.url, { waitReady: false, env: { WARREN_BUILD_DIR: buildDir } });
        try {
          const readyAt = await waitReady(w, 60_000);
          // Idle: let start-up garbage be collected as it would be in a long-running process.
          await sleep(3_000);
          const rss = await w.rssBytes();
          out.push({ readyMs: readyAt - w.spawnedAt, rssBytes: rss });
          log(`  ${functions} function(s) run ${run}/${runs}: ready ${readyAt - w.spawnedAt} ms after spawn, RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
        } finally {
          await w.stop();
        }
      } finally {
        await rm(buildDir, { recursive: true, force: true });
        await vhost.remove();
      }
    }
  } finally {
    await project.remove();
  }
  return out;
}
