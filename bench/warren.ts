/**
 * Warren as a user runs it: a project folder, `node bin/warren.js start --dir <project>` as a child
 * process (replicas are its worker threads), observed through its JSON log and its admin API. The
 * project builder and the running-runtime handle are test/testkit's; the bench adds its counters.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createProject as createTestProject, warrenBin, type Project } from '../test/testkit/project';
import { startWarren as startTestWarren, type RunningWarren as TestWarren, type StartOptions } from '../test/testkit/warren-process';

export { repoRoot, type Project } from '../test/testkit/project';
export type { LogLine } from '../test/testkit/warren-process';

export function createProject(queuesYaml: string, functions: Record<string, string>): Promise<Project> {
  return createTestProject(queuesYaml, functions, undefined, 'warren-bench-');
}

export interface RunningWarren extends TestWarren {
  /**
   * warren_messages_total{function=fn,outcome="ack"} from GET /metrics?name=warren_messages_total: that
   * counter alone, so that watching a drain asks the broker for no queue depths meanwhile (the
   * clients it is measured against are watched for free, in their own process).
   */
  acked(fn: string): Promise<number>;
  rssBytes(): Promise<number>;
}

/** The bench logs at info level: per-message debug lines would cost what it measures. */
export async function startWarren(dir: string, url: string, options: Omit<StartOptions, 'logLevel'> = {}): Promise<RunningWarren> {
  const w = await startTestWarren(dir, url, { timeoutMs: 60_000, ...options, logLevel: 'info' });
  return Object.assign(w, {
    async acked(fn: string) {
      const { text } = await w.admin('GET', '/metrics?name=warren_messages_total');
      const line = text.split('\n').find((l) => l.startsWith('warren_messages_total{') && l.includes(`function="${fn}"`) && l.includes('outcome="ack"'));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    },
    async rssBytes() {
      const status = await readFile(`/proc/${w.child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) * 1024;
    },
  });
}

/** Poll /readyz until it answers 200; resolves with Date.now() of that answer. */
export function waitReady(w: RunningWarren, timeoutMs = 30_000): Promise<number> {
  return w.waitReady(timeoutMs, 10);
}

/** `warren publish '' QUEUE JSON --count N`; returns the msg/s the command reports (connect included). */
export function warrenPublish(dir: string, url: string, queue: string, count: number): number {
  const res = spawnSync(process.execPath, [warrenBin, 'publish', '', queue, JSON.stringify({ i: 1 }), '--count', String(count), '--dir', dir], {
    env: { ...process.env, AMQP_URL: url },
    encoding: 'utf8',
  });
  const rate = /\((\d+) msg\/s\)/.exec(res.stdout)?.[1];
  if (res.status !== 0 || !rate) throw new Error(`warren publish failed (${res.status}): ${res.stdout} ${res.stderr}`);
  return Number(rate);
}
