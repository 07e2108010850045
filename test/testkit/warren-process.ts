/**
 * A running Warren as a user runs it: `node bin/warren.js start --dir <project>` as a child process,
 * observed through its JSON log and its admin API, stopped with a signal. Shared by test/ and bench/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { warrenBin } from './project';

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
  stderr(): string;
  /** everything it wrote so far, stdout and stderr as they came */
  output(): string;
  /** the environment it was started with, beyond process.env (AMQP_URL, admin port, …) */
  env: Record<string, string>;
  adminPort: number;
  /** resolves with the first log line matching */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; text: string }>;
  /** polls /readyz (with the bearer token when it has one) until 200; resolves with Date.now() of that answer */
  waitReady(timeoutMs?: number, intervalMs?: number): Promise<number>;
  /** signal (SIGTERM by default) and wait; SIGKILL after 30 s; resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  /** arguments after `start --dir <dir>` */
  args?: string[];
  env?: Record<string, string>;
  nodeArgs?: string[];
  cwd?: string;
  /** WARREN_LOG_LEVEL (default debug: tests read per-message lines) */
  logLevel?: string;
  /** wait for "warren is running" (default true) */
  waitReady?: boolean;
  timeoutMs?: number;
}

const KILL_AFTER_MS = 30_000;

/**
 * A port free now, taken from below the kernel's ephemeral range: a port the kernel handed out
 * itself can be taken again as the local end of any outgoing connection the moment its listener
 * stops, so a broker node restarted in a chaos test could find its own port gone (EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  const ceiling = Math.max(floor + 1_000, low);
  for (let tries = 0; tries < 50; tries++) {
    const port = floor + Math.floor(Math.random() * (ceiling - floor));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${floor} and ${ceiling}`);
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: the IANA range
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** JSON log lines of a stream into `logs`; `onLine` after each chunk. */
function collectLogs(stream: NodeJS.ReadableStream, logs: LogLine[], onLine: () => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
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
    onLine();
  });
}

export async function startWarren(dir: string, url: string, options: StartOptions = {}): Promise<RunningWarren> {
  const adminPort = await freePort();
  const spawnedAt = Date.now();
  const env: Record<string, string> = { AMQP_URL: url, WARREN_ADMIN_PORT: String(adminPort), WARREN_LOG_LEVEL: options.logLevel ?? 'debug', ...options.env };
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), warrenBin, 'start', '--dir', dir, ...(options.args ?? [])], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (chunk: Buffer | string) => (output += chunk.toString()));
  collectLogs(child.stdout!, logs, () => {
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => ((stderr += chunk), (output += chunk)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 15_000) =>
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
        reject(
          new Error(
            `log line not seen within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}\nlogs: ${logs
              .slice(-20)
              .map((l) => l.msg)
              .join(' | ')}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => setTimeout(check, 50));
      check();
    });

  const authorization: Record<string, string> = env.WARREN_ADMIN_TOKEN ? { authorization: `Bearer ${env.WARREN_ADMIN_TOKEN}` } : {};
  const running: RunningWarren = {
    child,
    spawnedAt,
    logs,
    stderr: () => stderr,
    output: () => output,
    env,
    adminPort,
    waitForLog,
    exited,
    async admin(method, path, body) {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...authorization },
        signal: AbortSignal.timeout(10_000),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, text: await res.text() };
    },
    async waitReady(timeoutMs = 15_000, intervalMs = 50) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`warren exited (${child.exitCode}) before it was ready:\n${output.slice(-4000)}`);
        const status = await running.admin('GET', '/readyz').then(
          (r) => r.status,
          () => undefined,
        );
        if (status === 200) return Date.now();
        if (Date.now() > deadline) throw new Error(`warren not ready after ${timeoutMs} ms (${status ?? 'no answer'}):\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  if (options.waitReady !== false) {
    await Promise.race([
      waitForLog((l) => l.msg === 'warren is running', options.timeoutMs ?? 20_000),
      exited.then((code) => {
        // Its JSON log (stdout) says why as often as stderr does: both, as they came.
        throw new Error(`warren exited with ${code} before it was ready:\n${output.slice(-4000)}`);
      }),
    ]);
  }
  return running;
}
