/**
 * Test projects and runtimes as a user has them: a temporary folder with queues.yaml and handler
 * files, and `node bin/warren.js …` run against it as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const warrenBin = join(repoRoot, 'bin', 'warren.js');
export const fixtureFunctions = join(repoRoot, 'test', 'fixtures', 'functions');

export interface Project {
  dir: string;
  /** writes functions/<name>.ts */
  writeFunction(name: string, source: string): Promise<void>;
  remove(): Promise<void>;
}

/**
 * A project folder with `queues.yaml` and handler files. Handler sources may import the runtime as
 * `warren` (resolved to this repository's runtime by the build).
 */
export async function createProject(queuesYaml: string, functions: Record<string, string> = {}, rascalJson?: object): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-test-'));
  await mkdir(join(dir, 'functions'));
  await writeFile(join(dir, 'queues.yaml'), queuesYaml);
  if (rascalJson) await writeFile(join(dir, 'rascal.json'), JSON.stringify(rascalJson, null, 2));
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
  msg: string;
  [key: string]: unknown;
}

export interface RunningWarren {
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  adminPort: number;
  /** resolves with the first log line matching */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait; resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** `warren start --dir <dir>`; resolves once "warren is running" was logged (unless `waitReady: false`). */
export async function startWarren(
  dir: string,
  url: string,
  options: { args?: string[]; env?: Record<string, string>; waitReady?: boolean; timeoutMs?: number } = {},
): Promise<RunningWarren> {
  const adminPort = await freePort();
  const child = spawn(process.execPath, [warrenBin, 'start', '--dir', dir, ...(options.args ?? [])], {
    env: { ...process.env, AMQP_URL: url, WARREN_ADMIN_PORT: String(adminPort), WARREN_LOG_LEVEL: 'debug', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 0, msg: line });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 15_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr}\nlogs: ${logs.map((l) => l.msg).join(' | ')}`));
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => setTimeout(check, 50));
      check();
    });

  const running: RunningWarren = {
    child,
    logs,
    stderr: () => stderr,
    adminPort,
    waitForLog,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.waitReady !== false) {
    await Promise.race([
      waitForLog((l) => l.msg === 'warren is running', options.timeoutMs ?? 20_000),
      exited.then((code) => {
        throw new Error(`warren exited with ${code} before it was ready: ${stderr}`);
      }),
    ]);
  }
  return running;
}

/** Run a warren command to completion. */
export function runWarren(args: string[], env: Record<string, string> = {}, cwd = repoRoot): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [warrenBin, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
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
