/**
 * `npm start` under a process manager: SIGTERM goes to npm's pid, and the runtime (not npm's shell)
 * must get it, drain, and exit 0, leaving no process and no consumer behind; in a terminal, one Ctrl-C
 * (which reaches Warren twice) drains as well.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestVhost, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, freePort, repoRoot, waitFor, type Project } from '../helpers/runtime';

let vhost: TestVhost | undefined;
let project: Project | undefined;
/** processes this test started, ended here when a failed run left them behind */
let started: number[] = [];

afterEach(async () => {
  for (const pid of started.filter(alive)) process.kill(pid, 'SIGKILL');
  started = [];
  await project?.remove();
  await vhost?.cleanup(); // fails the test when a consumer or connection was left behind
  vhost = project = undefined;
});

/** Every process whose parent chain leads to `root` (read from /proc). */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  for (const pid of parentOf.keys()) {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) {
      if (p === root) {
        found.push(pid);
        break;
      }
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `npm start` on a project of one function with 2 replicas, running; `detached` puts npm in a process group of its own. */
async function runningNpmStart(detached: boolean) {
  vhost = await createTestVhost('npm-start');
  project = await createProject('functions:\n  echo: { replicas: 2 }\n', {
    echo: `export default async function handler(): Promise<void> {}\n`,
  });
  const npm = spawn('npm', ['start', '--silent', '--', '--dir', project.dir], {
    cwd: repoRoot,
    env: { ...process.env, AMQP_URL: vhost.url, WARREN_ADMIN_PORT: String(await freePort()), WARREN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  const output = { text: '' };
  npm.stdout.setEncoding('utf8').on('data', (c: string) => (output.text += c));
  npm.stderr.setEncoding('utf8').on('data', (c: string) => (output.text += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.on('exit', (code, signal) => resolve({ code, signal })));

  started = [npm.pid!];
  await waitFor(() => output.text.includes('warren is running'), 30_000, 50);
  expect((await queueInfo(vhost.url, 'echo')).consumerCount).toBe(2);
  const tree = descendants(npm.pid!);
  started.push(...tree);
  expect(tree.length).toBeGreaterThan(0);
  return { npm, output, exited, tree };
}

/** Every process of the tree ended, and the broker shows no consumer left. */
async function nothingLeft(tree: number[]): Promise<void> {
  await waitFor(() => tree.every((pid) => !alive(pid)), 5_000, 50).catch(() => {
    throw new Error(`processes left behind: ${tree.filter(alive).join(', ')}`);
  });
  expect((await queueInfo(vhost!.url, 'echo')).consumerCount).toBe(0);
}

describe('npm start', () => {
  it('hands SIGTERM to Warren: it drains, npm exits 0, no process or consumer is left', async () => {
    const { npm, output, exited, tree } = await runningNpmStart(false);
    npm.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(output.text).toContain('stopped cleanly');
    await nothingLeft(tree);
  });

  it('takes one Ctrl-C as one: the terminal signals the whole group and npm forwards it again, and Warren still drains', async () => {
    const { npm, output, exited, tree } = await runningNpmStart(true);
    // what a terminal does on Ctrl-C: SIGINT to every process of the foreground group
    process.kill(-npm.pid!, 'SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(output.text).toContain('stopped cleanly');
    expect(output.text).not.toContain('exiting now');
    await nothingLeft(tree);
  });
});
