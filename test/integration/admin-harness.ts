/**
 * What the admin, scale and deploy integration tests share: a throwaway project folder, a runtime
 * started as a child process (`node bin/warren.js start`) with its admin API on a free port, the CLI
 * run as a user runs it, and a reader of the `results` queue the fixture handlers publish to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { freePort, runWarren } from '../helpers/runtime';
import type { TestVhost } from '../helpers/broker';

export const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/warren.js');

/** Handler used by every test: waits `ms`, then returns its id, function and version (published to `results`). */
export function recordingHandler(version: string): string {
  return `const VERSION = ${JSON.stringify(version)};
export default async function handler(message: { id: string; ms?: number }, ctx: { functionName: string }) {
  if (message.ms) await new Promise((resolve) => setTimeout(resolve, message.ms));
  return { id: message.id, fn: ctx.functionName, v: VERSION };
}
`;
}

/** queues.yaml running `names`, each sending its return value to the `results` queue. */
export function recordingQueues(functions: Record<string, { replicas?: number; prefetch?: number }>): string {
  const lines = [
    'exchanges:',
    '  results: { type: fanout }',
    'queues:',
    '  results: { type: classic }',
    'bindings:',
    '  - { exchange: results, queue: results, routingKey: all }',
    'functions:',
  ];
  for (const [name, fn] of Object.entries(functions)) {
    lines.push(`  ${name}:`, `    replicas: ${fn.replicas ?? 1}`, `    prefetch: ${fn.prefetch ?? 1}`, '    output: { exchange: results, routingKey: all }');
  }
  return lines.join('\n') + '\n';
}

export interface Project {
  dir: string;
  write(path: string, text: string): Promise<void>;
  remove(): Promise<void>;
}

export async function createProject(files: Record<string, string>): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-admin-test-'));
  const project: Project = {
    dir,
    async write(path, text) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), text);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  for (const [path, text] of Object.entries(files)) await project.write(path, text);
  return project;
}

export interface Runtime {
  port: number;
  env: Record<string, string>;
  /** everything the runtime wrote so far (stdout + stderr) */
  output(): string;
  /** resolves with the exit code */
  exited: Promise<number | null>;
  admin(path: string, init?: RequestInit): Promise<Response>;
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; resolves with the exit code */
  stop(): Promise<number | null>;
}

/**
 * After a test: stop the runtime and remove the project, then (whatever failed before) check and delete
 * the vhost, which fails the test when a connection or consumer was left behind.
 */
export async function release(runtime?: Runtime, project?: Project, vhost?: TestVhost): Promise<void> {
  try {
    await runtime?.stop();
    await project?.remove();
  } finally {
    await vhost?.cleanup();
  }
}

export async function startRuntime(dir: string, amqpUrl: string, extraEnv: Record<string, string> = {}): Promise<Runtime> {
  const port = await freePort();
  const env: Record<string, string> = {
    AMQP_URL: amqpUrl,
    WARREN_ADMIN_PORT: String(port),
    WARREN_LOG_LEVEL: 'info',
    WARREN_BUILD_DIR: join(dir, '.build'),
    ...extraEnv,
  };
  const child: ChildProcess = spawn(process.execPath, [bin, 'start', '--dir', dir], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const host = '127.0.0.1';
  const runtime: Runtime = {
    port,
    env,
    output: () => output,
    exited,
    admin: (path, init) => fetch(`http://${host}:${port}${path}`, { ...init, signal: AbortSignal.timeout(10_000) }),
    async waitReady(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`runtime exited (${child.exitCode}) before it was ready:\n${output}`);
        const res = await runtime.admin('/readyz', { headers: authHeader(env) }).catch(() => null);
        if (res?.status === 200) return;
        if (Date.now() > deadline) throw new Error(`runtime not ready after ${timeoutMs} ms (${res?.status ?? 'no answer'}):\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
  return runtime;
}

function authHeader(env: Record<string, string>): Record<string, string> {
  return env.WARREN_ADMIN_TOKEN ? { authorization: `Bearer ${env.WARREN_ADMIN_TOKEN}` } : {};
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `warren ARGS` against the runtime (its admin port and token come from `env`). */
export async function runCli(args: string[], env: Record<string, string>, cwd = root): Promise<CliResult> {
  const started = performance.now();
  const result = await runWarren(args, env, cwd);
  return { ...result, ms: performance.now() - started };
}

export interface Result {
  id: string;
  fn: string;
  v: string;
}

/** Publishes `{id, ms}` messages to a function's queue (default exchange) with confirms. */
export async function publishIds(url: string, queue: string, ids: readonly string[], ms = 0): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    for (const id of ids) {
      ch.publish('', queue, Buffer.from(JSON.stringify(ms ? { id, ms } : { id })), { persistent: true, messageId: id, contentType: 'application/json' });
    }
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** Reads the `results` queue until `expected` results arrived and the queue stayed quiet a moment, or the timeout. */
export async function collectResults(url: string, expected: number, timeoutMs = 20_000): Promise<Result[]> {
  const conn = await amqplib.connect(url);
  const results: Result[] = [];
  try {
    const ch = await conn.createChannel();
    const deadline = Date.now() + timeoutMs;
    let quietSince = Date.now();
    for (;;) {
      const msg = await ch.get('results', { noAck: true });
      if (msg) {
        const body = JSON.parse(msg.content.toString()) as Result | { output?: Result };
        results.push('id' in body ? body : (body.output as Result));
        quietSince = Date.now();
        continue;
      }
      // Past the expected count, wait a little longer: a duplicate would arrive late.
      if (results.length >= expected && Date.now() - quietSince > 300) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await ch.close();
  } finally {
    await conn.close();
  }
  return results;
}

/** Ids missing from `results` and ids seen more than once. */
export function lostAndDuplicated(ids: readonly string[], results: readonly Result[]): { lost: string[]; duplicated: string[] } {
  const seen = new Map<string, number>();
  for (const r of results) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
  return {
    lost: ids.filter((id) => !seen.has(id)),
    duplicated: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
  };
}

export async function consumerCount(url: string, queue: string): Promise<number> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    const { consumerCount } = await ch.checkQueue(queue);
    await ch.close();
    return consumerCount;
  } finally {
    await conn.close();
  }
}
