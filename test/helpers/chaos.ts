/**
 * Shared pieces of the chaos, shutdown and ordering tests: a handler that misbehaves when its message
 * says so, a consumer that collects what handlers report to the `results` queue, and a fast publisher.
 */
import amqplib from 'amqplib';
import { expect } from 'vitest';
import { heldPerTest as heldAfterEach } from '../testkit/held';
import type { TestVhost } from './broker';
import type { Project, RunningWarren } from './runtime';
import type { Collector } from '../testkit/results';

/**
 * Handler source: `{ id, kill? }`. Without `kill` it reports `{ fn, id, attempt }` to `results`.
 * `kill` says how to die: exit (process.exit), uncaught (throw outside the handler's promise), oom
 * (allocate until the heap limit), leak (allocate Buffers, outside the heap), spin (block the event loop), hang (never settle, ignore ctx.signal),
 * `exit-once` (exit on the first attempt only), `pause` (wait `ms`, then report).
 */
export const misbehavingHandler = `
import type { Handler } from 'warren';
type In = { id: string | number; kill?: string; ms?: number };
const handler: Handler<In> = async (m, ctx) => {
  if (m.kill === 'exit') {
    ctx.log.error({ id: m.id }, 'exiting on purpose');
    process.exit(1);
  }
  if (m.kill === 'exit-once' && ctx.attempt === 1) process.exit(1);
  if (m.kill === 'uncaught') {
    setTimeout(() => { throw new Error('uncaught boom'); }, 0);
    await new Promise((r) => setTimeout(r, 10_000));
  }
  if (m.kill === 'oom') {
    const hog: number[][] = [];
    for (;;) hog.push(new Array(1_000_000).fill(Math.random()));
  }
  if (m.kill === 'leak') {
    const hog: Buffer[] = [];
    for (;;) {
      hog.push(Buffer.alloc(8 * 2 ** 20, 1));
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  if (m.kill === 'spin') for (;;) {}
  if (m.kill === 'hang') await new Promise(() => {});
  if (m.ms) await new Promise((r) => setTimeout(r, m.ms));
  await ctx.publish('', 'results', { fn: ctx.functionName, id: m.id, attempt: ctx.attempt });
};
export default handler;
`;

export { collectResults, type Collector, type Result } from '../testkit/results';

/** Publishes JSON bodies to a queue through the default exchange, with confirms, in order. */
export async function publishMany(url: string, queue: string, bodies: readonly unknown[]): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    for (const [i, body] of bodies.entries()) {
      const ok = ch.sendToQueue(queue, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', persistent: true, messageId: `m-${i}` });
      if (!ok) await new Promise((r) => ch.once('drain', r));
    }
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}

export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => i + from);
}

/** A chaos test file's vhost, project, runtime and collector, released after each test (test/testkit/held.ts); the runtime must exit 0. */
export function heldPerTest() {
  return heldAfterEach<{ vhost: TestVhost; project: Project; warren: RunningWarren; collector: Collector }>(async (held) => {
    expect((await release(held.warren, held.collector, held.project, held.vhost)) ?? 0).toBe(0);
  });
}

/**
 * After a test: stop the runtime (its exit code is returned), close the collector, remove the project,
 * then, whatever failed before, check and delete the vhost (which fails a test that leaked).
 */
export async function release(warren?: RunningWarren, collector?: Collector, project?: Project, vhost?: TestVhost): Promise<number | null | undefined> {
  try {
    const code = await warren?.stop();
    await collector?.close();
    await project?.remove();
    return code;
  } finally {
    await vhost?.cleanup();
  }
}
