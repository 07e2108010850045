/**
 * Test projects and runtimes as a user has them (the project builder and the running-runtime handle
 * live in test/testkit/, shared with bench/), and `node bin/warren.js …` run to completion.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, warrenBin } from '../testkit/project';

export { repoRoot, warrenBin, createProject, type Project } from '../testkit/project';
export { freePort, startWarren, type LogLine, type RunningWarren, type StartOptions } from '../testkit/warren-process';

export const fixtureFunctions = join(repoRoot, 'test', 'fixtures', 'functions');

/**
 * Run a warren command to completion; with `killAfterMs`, a command still running then is killed
 * (SIGKILL, `code` null) rather than left behind by a test that expected it to end.
 */
export function runWarren(
  args: string[],
  env: Record<string, string> = {},
  cwd = repoRoot,
  killAfterMs?: number,
): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [warrenBin, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
          }, killAfterMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed, ms: Date.now() - started });
    });
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
