/**
 * Warren as a user runs it: a project folder, `node bin/warren.js start --dir <project>` as a child
 * process (replicas are its worker threads), observed through its JSON log and its admin API.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './stats';

/** set by bench/run.mjs (the bundle runs from node_modules/.cache) */
export const repoRoot = process.env.WARREN_BENCH_ROOT ?? process.cwd();
const warrenBin = join(repoRoot, 'bin', 'warren.js');

export interface Project {
  dir: string;
  writeFunction(name: string, source: string): Promise<void>;
  remove(): Promise<void>;
}

export async function createProject(queuesYaml: string, functions: Record<string, string>): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-bench-'));
  await mkdir(join(dir, 'functions'));
  await writeFile(join(dir, 'queues.yaml'), queuesYaml);
  const project: Project = {
    dir,
    writeFunction: (name, source) => writeFile(join(dir, 'functions', `${name}.ts`), source),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  for (const [name, source] of Object.entries(functions)) await project.writeFunction(name, source);
  return project;
}

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [key: string]: unknown;
}

export interface RunningWarren {
  child: ChildProcess;
  /** wall-clock ms (Date.now()) when the process was spawned */
  spawnedAt: number;
  logs: LogLine[];
  adminPort: number;
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; text: string }>;
  /** warren_messages_total{function=fn,outcome="ack"} from GET /metrics */
  acked(fn: string): Promise<number>;
  rssBytes(): Promise<number>;
  stop(): Promise<number | null>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface StartOptions {
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** after `start --dir DIR`, e.g. ['--only', 'a'] */
  args?: string[];
  /** wait for "warren is running" (default true) */
  waitRunning?: boolean;
}

export async function startWarren(dir: string, url: string, options: StartOptions = {}): Promise<RunningWarren> {
  const adminPort = await freePort();
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), warrenBin, 'start', '--dir', dir, ...(options.args ?? [])], {
    env: { ...process.env, AMQP_URL: url, WARREN_ADMIN_PORT: String(adminPort), WARREN_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 0, time: Date.now(), msg: line });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}; logs: ${logs.slice(-10).map((l) => l.msg).join(' | ')}`));
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => setTimeout(check, 50));
      check();
    });

  const admin = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, text: await res.text() };
  };

  const running: RunningWarren = {
    child,
    spawnedAt,
    logs,
    adminPort,
    waitForLog,
    admin,
    async acked(fn) {
      const { text } = await admin('GET', '/metrics');
      const line = text.split('\n').find((l) => l.startsWith('warren_messages_total{') && l.includes(`function="${fn}"`) && l.includes('outcome="ack"'));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    },
    async rssBytes() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      return kb * 1024;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  if (options.waitRunning !== false) {
    await Promise.race([
      waitForLog((l) => l.msg === 'warren is running', 60_000),
      exited.then((code) => {
        throw new Error(`warren exited with ${code} before it was running: ${stderr.slice(-2000)}`);
      }),
    ]);
  }
  return running;
}

/** Poll /readyz until it answers 200; resolves with Date.now() of that answer. */
export async function waitReady(w: RunningWarren, timeoutMs = 30_000): Promise<number> {
  return waitFor(
    async () => {
      try {
        return (await w.admin('GET', '/readyz')).status === 200 ? Date.now() : false;
      } catch {
        return false;
      }
    },
    timeoutMs,
    10,
    '/readyz 200',
  );
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
