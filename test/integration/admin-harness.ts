/**
 * What the admin, scale and deploy integration tests share: a throwaway project folder and a runtime
 * started as a child process (both test/testkit's), the CLI run as a user runs it, and a reader of
 * the `results` queue the fixture handlers publish to.
 */
import { join } from 'node:path';
import amqplib from 'amqplib';
import { runWarren } from '../helpers/runtime';
import type { TestVhost } from '../helpers/broker';
import { createProject as createTestProject, repoRoot, type Project } from '../testkit/project';
import { startWarren } from '../testkit/warren-process';
import { heldPerTest as heldAfterEach } from '../testkit/held';

export type { Project } from '../testkit/project';

export const root = repoRoot;

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

/** A project from its files (`queues.yaml` among them), paths relative to its folder. */
export async function createProject(files: Record<string, string>): Promise<Project> {
  const { 'queues.yaml': queuesYaml = '', ...rest } = files;
  const project = await createTestProject(queuesYaml, {}, undefined, 'warren-admin-test-');
  for (const [path, text] of Object.entries(rest)) await project.write(path, text);
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
/** A test file's vhost, project and runtime, released after each test (test/testkit/held.ts). */
export function heldPerTest() {
  return heldAfterEach<{ vhost: TestVhost; project: Project; runtime: Runtime }>((held) => release(held.runtime, held.project, held.vhost));
}

export async function release(runtime?: Runtime, project?: Project, vhost?: TestVhost): Promise<void> {
  try {
    await runtime?.stop();
    await project?.remove();
  } finally {
    await vhost?.cleanup();
  }
}

/** test/testkit's running Warren, seen the way these tests use it: fetch-style admin calls, readiness, output. */
export async function startRuntime(dir: string, amqpUrl: string, extraEnv: Record<string, string> = {}): Promise<Runtime> {
  const warren = await startWarren(dir, amqpUrl, { cwd: dir, logLevel: 'info', waitReady: false, env: { WARREN_BUILD_DIR: join(dir, '.build'), ...extraEnv } });
  return {
    port: warren.adminPort,
    env: warren.env,
    output: warren.output,
    exited: warren.exited,
    admin: (path, init) => fetch(`http://127.0.0.1:${warren.adminPort}${path}`, { ...init, signal: AbortSignal.timeout(10_000) }),
    waitReady: async (timeoutMs) => void (await warren.waitReady(timeoutMs)),
    stop: () => warren.stop(),
  };
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
