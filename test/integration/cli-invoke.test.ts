/**
 * `warren invoke` with handlers that misbehave the way replicas are built to survive: one that blocks
 * its event loop, one that exits the process, one that publishes with a delay. No broker: each runs
 * in invoke's own worker thread, and the command says what happened in a person's words.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createProject, runWarren, type Project } from '../helpers/runtime';

const queuesYaml = `
exchanges:
  delx: { type: topic }
functions:
  spin: { timeout: 1s }
  quit: { redeliveryLimit: 4 }
  quitBatch: { batch: { size: 10, window: 100ms } }
  later: {}
  shaped: { output: { exchange: delx, routingKey: out.x }, retry: { attempts: 3, delay: 2s } }
  loose: {}
  chatty: {}
  router: {}
  routed: { queue: router_inbox }
`;

/** Answers with where its message came from. */
const routerSource = `
import type { Handler } from 'warren';
const handler: Handler = async (message, ctx) => ({ exchange: ctx.exchange, routingKey: ctx.routingKey, headers: ctx.headers });
export default handler;
`;

const handlers = {
  spin: 'const handler = async () => {\n  while (true) {}\n};\nexport default handler;\n',
  quit: "const handler = async () => {\n  console.log('leaving');\n  process.exit(3);\n};\nexport default handler;\n",
  quitBatch: 'export default async () => {\n  process.exit(3);\n};\n',
  later: `
import type { Handler } from 'warren';
const handler: Handler = async (message, ctx) => {
  await ctx.publish('delx', 'delayed.x', { id: 1 }, { delay: '2s' });
  await ctx.publish('delx', 'now.x', { id: 2 });
  return { ok: true };
};
export default handler;
`,
  // What a handler returns, or publishes, by the message's "kind".
  shaped: `
import type { Handler } from 'warren';
const handler: Handler<{ kind: string }> = async (message, ctx) => {
  if (message.kind === 'bigint') return { n: 10n };
  if (message.kind === 'cycle') { const o: Record<string, unknown> = {}; o.self = o; return o; }
  if (message.kind === 'bytes') return Buffer.from('raw bytes');
  if (message.kind === 'publish-bigint') {
    try { await ctx.publish('delx', 'x', { n: 1n }); } catch (err) { return { caught: (err as Error).message }; }
  }
  return { fine: true };
};
export default handler;
`,
  loose: 'export default async () => ({ n: 10n });\n',
  router: routerSource,
  routed: routerSource,
  // Logs what handlers log: its raw bytes, a URL object with credentials, a nested password.
  chatty: `
import type { Handler } from 'warren';
const handler: Handler = async (message, ctx) => {
  ctx.log.info({ raw: ctx.raw, site: new URL('https://app:url-secret@example.com/x'), db: { host: 'pg', password: 'db-secret' } }, 'seen');
  return { ok: true };
};
export default handler;
`,
};

/** Runs `warren invoke`, killed if it outlives `killAfterMs` (a handler that was never stopped). */
const invoke = (args: string[], killAfterMs = 20_000) => runWarren(['invoke', ...args], {}, undefined, killAfterMs);

describe('warren invoke and a handler that misbehaves', () => {
  let project: Project | undefined;
  afterEach(async () => {
    await project?.remove();
    project = undefined;
  });

  it('ends a handler that blocks its event loop past its timeout, exit 1, saying so', async () => {
    project = await createProject(queuesYaml, handlers);
    const result = await invoke(['spin', '{}', '--dir', project.dir]);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('spin: the handler blocked its event loop past its timeout (1 s) and was stopped');
    expect(result.stderr).toContain(
      'invoke ran it once and redelivers nothing; under `warren start` the watchdog would end its replica, and the message would go back to the queue and run again, alone, redelivered up to redeliveryLimit (3) times, then dead-lettered',
    );
  });

  it("refuses, exit 2 and no stack, a message nested too deeply to hand to the handler's thread", async () => {
    project = await createProject(queuesYaml, handlers);
    await writeFile(join(project.dir, 'deep.json'), '['.repeat(200_000) + ']'.repeat(200_000));
    const result = await invoke(['loose', `@${join(project.dir, 'deep.json')}`, '--dir', project.dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("the message cannot be handed to the handler's thread: Maximum call stack size exceeded");
    expect(result.stderr).toContain('[WARREN_E_USAGE]');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a handler that exits the process, exit 1, instead of ending silently with its code', async () => {
    project = await createProject(queuesYaml, handlers);
    const result = await invoke(['quit', '{}', '--dir', project.dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('leaving');
    expect(result.stderr).toContain(
      'quit: the handler exited the process with code 3; invoke ran it once and redelivers nothing; under `warren start` this would kill its replica, and the message would go back to the queue and run again, alone, redelivered up to redeliveryLimit (4) times, then dead-lettered',
    );
  });

  it('says, for a batch handler that exits the process, what becomes of each item under warren start, not that invoke redelivers a message', async () => {
    project = await createProject(queuesYaml, handlers);
    const result = await invoke(['quitBatch', '[{"id":1},{"id":2}]', '--dir', project.dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain('the message is redelivered');
    expect(result.stderr).toContain(
      'quitBatch: the handler exited the process with code 3; invoke ran the batch once and redelivers nothing; under `warren start` this would kill its replica, and each item of the batch would go back to the queue and run again alone, as a batch of one: the items that pass are settled as usual, one that kills every replica it runs in is redelivered up to redeliveryLimit (3) times, then dead-lettered',
    );
  });

  it('shows a delayed publish as the handler wrote it, not as the delay ladder carries it', async () => {
    project = await createProject(queuesYaml, handlers);
    const result = await invoke(['later', '{}', '--dir', project.dir]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ ok: true });
    expect(result.stderr).toContain('publish delx delayed.x after 2 s {"id":1}\n');
    expect(result.stderr).toContain('publish delx now.x {"id":2}\n');
    expect(result.stderr).not.toContain('warren.delay');
  });

  it('fails a result its output cannot carry (a BigInt, a cycle) as a replica does: exit 1, the reason, the retry', async () => {
    project = await createProject(queuesYaml, handlers);
    for (const [kind, why] of [
      ['bigint', 'Do not know how to serialize a BigInt'],
      ['cycle', 'Converting circular structure to JSON'],
    ]) {
      const result = await invoke(['shaped', JSON.stringify({ kind }), '--dir', project.dir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `shaped failed: TypeError: the message body cannot be sent as JSON (${why}): publish plain JSON values, a string or a Buffer\n`,
      );
      expect(result.stderr).toContain('a replica would retry it in 2000 ms (attempt 2, through shaped.retry.2s)');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('prints returned bytes as they are, refuses a publish JSON cannot carry, and shows a result no output publishes', async () => {
    project = await createProject(queuesYaml, handlers);
    const bytes = await invoke(['shaped', '{"kind":"bytes"}', '--dir', project.dir]);
    expect(bytes.code).toBe(0);
    expect(bytes.stdout).toBe('raw bytes');
    expect(bytes.stderr).toContain('a replica would publish the result to delx out.x, then ack');

    const published = await invoke(['shaped', '{"kind":"publish-bigint"}', '--dir', project.dir]);
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toEqual({ caught: expect.stringContaining('cannot be sent as JSON (Do not know how to serialize a BigInt)') });

    // Without output: nothing is published, the message is acked; the value is shown as Node shows it.
    const loose = await invoke(['loose', '{}', '--dir', project.dir]);
    expect(loose.code).toBe(0);
    expect(loose.stdout.trim()).toBe('{ n: 10n }');
    expect(loose.stderr).toContain('a replica would ack');
  });

  it('logs what a handler logs (its raw bytes, a URL object) with the credentials masked, and the message succeeds', async () => {
    project = await createProject(queuesYaml, handlers);
    const result = await invoke(['chatty', '{"a":1}', '--dir', project.dir]);
    expect(result.code).toBe(0);
    const line = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"level"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'seen');
    expect(line).toMatchObject({
      function: 'chatty',
      raw: { type: 'Buffer', data: [...Buffer.from('{"a":1}')] },
      site: 'https://app:***@example.com/x',
      db: { host: 'pg', password: '[redacted]' },
    });
    expect(result.stdout + result.stderr).not.toMatch(/url-secret|db-secret/);
    expect(result.stderr).toContain('a replica would ack');
  });

  it('gives the handler the headers, routing key and exchange given with --header, --routing-key and --exchange', async () => {
    project = await createProject(queuesYaml, handlers);
    const given = await invoke([
      'router',
      '{}',
      '--header',
      'tenant=acme',
      '--header',
      'trace=a=b',
      '--routing-key',
      'user.created',
      '--exchange',
      'delx',
      '--dir',
      project.dir,
    ]);
    expect(given.code).toBe(0);
    expect(JSON.parse(given.stdout.slice(given.stdout.indexOf('{')))).toEqual({
      exchange: 'delx',
      routingKey: 'user.created',
      headers: { tenant: 'acme', trace: 'a=b' },
    });
    // without them: its own queue through the default exchange, as `warren publish '' router` sends it
    const plain = await invoke(['router', '{}', '--dir', project.dir]);
    expect(JSON.parse(plain.stdout.slice(plain.stdout.indexOf('{')))).toEqual({ exchange: '', routingKey: 'router', headers: {} });
    // a function with a queue of its own: that queue's name, as a producer sending to it sets it
    const routed = await invoke(['routed', '{}', '--dir', project.dir]);
    expect(JSON.parse(routed.stdout.slice(routed.stdout.indexOf('{')))).toEqual({ exchange: '', routingKey: 'router_inbox', headers: {} });
    const bad = await invoke(['router', '{}', '--header', 'tenant', '--dir', project.dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--header tenant: expected key=value');
  });
});
