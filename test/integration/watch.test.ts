/**
 * `warren start --watch` against the real broker: a dropped-in handler file consumes within a second,
 * an edited one is redeployed, a broken edit keeps the old version serving (and says file and line),
 * a deleted one stops consuming while its queue and messages stay (queues.yaml entry or not), and a
 * settings change keeps the function's counters.
 */
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestVhost, getAll, managementQueue, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { consumerCount, reportingHandler, RESULTS_YAML } from './watch-helpers';

let vhost: TestVhost;
let project: Project;
let warren: RunningWarren | undefined;
let conn: amqplib.ChannelModel | undefined;

beforeEach(async () => {
  vhost = await createTestVhost('watch');
});

afterEach(async () => {
  await warren?.stop();
  warren = undefined;
  await conn?.close();
  conn = undefined;
  await project?.remove();
  await vhost.cleanup();
});

async function results(expected: number): Promise<Array<{ tag: string; handled: unknown }>> {
  const seen: Array<{ tag: string; handled: unknown }> = [];
  await waitFor(async () => {
    for (const m of await getAll(vhost.url, 'results')) seen.push(JSON.parse(m.content.toString()) as { tag: string; handled: unknown });
    return seen.length >= expected;
  }, 10_000);
  return seen;
}

describe('start --watch', () => {
  it('runs a handler file dropped into functions/ within a second, with the defaults', async () => {
    project = await createProject(RESULTS_YAML, { existing: reportingHandler('existing') });
    warren = await startWarren(project.dir, vhost.url, { args: ['--watch'] });
    await warren.waitForLog((l) => l.stage === 'watch' && /watching/.test(l.msg));
    conn = await amqplib.connect(vhost.url);

    // Written elsewhere, then copied in: the way a user drops a file.
    const staged = join(project.dir, 'staged-dropped.ts');
    await writeFile(staged, reportingHandler('dropped'));
    const copiedAt = Date.now();
    await copyFile(staged, join(project.dir, 'functions', 'dropped.ts'));
    await waitFor(async () => (await consumerCount(conn!, 'dropped')) >= 1, 5_000, 20);
    const elapsed = Date.now() - copiedAt;
    const at = (msg: string): string =>
      String(Number(warren!.logs.findLast((l) => l.msg === msg && (l.function ?? 'dropped') === 'dropped')?.time ?? NaN) - copiedAt);
    console.log(
      `dropped-in handler consuming ${elapsed} ms after the copy ` +
        `(seen +${at('files changed')} ms, topology declared +${at('topology declared')} ms, function started +${at('function started')} ms)`,
    );
    expect(elapsed).toBeLessThan(1_500);

    // Defaults: a quorum queue named after the file, reached through the default exchange.
    const queue = await waitFor(() => managementQueue(vhost.name, 'dropped'));
    expect((queue.arguments as Record<string, unknown>)['x-queue-type']).toBe('quorum');
    await publishRaw(vhost.url, '', 'dropped', JSON.stringify({ hello: 'world' }), { contentType: 'application/json' });
    expect(await results(1)).toEqual([{ tag: 'dropped', handled: { hello: 'world' }, attempt: 1 }]);
    // The function that was already running was not touched.
    expect(warren.logs.some((l) => l.msg === 'deployed' && l.function === 'existing')).toBe(false);
  });

  it('redeploys an edited file, keeps the old version serving when the edit does not build, and stops a deleted one', async () => {
    project = await createProject(RESULTS_YAML, { greet: reportingHandler('v1') });
    warren = await startWarren(project.dir, vhost.url, { args: ['--watch'] });
    await warren.waitForLog((l) => l.stage === 'watch' && /watching/.test(l.msg));
    conn = await amqplib.connect(vhost.url);

    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 1 }));
    expect((await results(1)).map((r) => r.tag)).toEqual(['v1']);

    await project.writeFunction('greet', reportingHandler('v2'));
    await warren.waitForLog((l) => l.msg === 'deployed' && l.function === 'greet');
    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 2 }));
    expect((await results(1)).map((r) => r.tag)).toEqual(['v2']);

    // A syntax error on line 3: the build fails, v2 keeps serving, the log names file and line.
    await project.writeFunction('greet', `import type { Handler } from 'warren';\n\nconst handler: Handler = async ( => 1;\nexport default handler;\n`);
    const failure = await warren.waitForLog((l) => /could not be redeployed/.test(l.msg));
    expect((failure.problems as string[])[0]).toMatch(/^functions\/greet\.ts:3:\d+ could not build function "greet"/);
    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 3 }));
    expect(await results(1)).toEqual([{ tag: 'v2', handled: { n: 3 }, attempt: 1 }]);
    expect(await consumerCount(conn, 'greet')).toBe(1);

    // Built but not loadable (no default export): v2 keeps serving, the log names the file and the code.
    await project.writeFunction('greet', `export const handler = async () => null;\n`);
    const unloadable = await warren.waitForLog((l) => /could not be redeployed/.test(l.msg) && l !== failure);
    expect((unloadable.problems as string[])[0]).toMatch(/^functions\/greet\.ts:1 greet\.ts has no default export function .*\[WARREN_E_HANDLER_EXPORT\]$/);
    expect(await consumerCount(conn, 'greet')).toBe(1);

    // Deleted: consumers stop, the queue and its messages stay.
    await rm(join(project.dir, 'functions', 'greet.ts'));
    await warren.waitForLog((l) => l.msg === 'function stopped; its queue and messages stay' && l.function === 'greet');
    expect(await consumerCount(conn, 'greet')).toBe(0);
    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 4 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(await queueInfo(vhost.url, 'greet')).toEqual({ messageCount: 1, consumerCount: 0 });
    expect(await getAll(vhost.url, 'results')).toEqual([]);
  });

  it('keeps serving on an invalid queues.yaml and reports file and line', async () => {
    project = await createProject(RESULTS_YAML, { greet: reportingHandler('v1') });
    warren = await startWarren(project.dir, vhost.url, { args: ['--watch'] });
    await warren.waitForLog((l) => l.stage === 'watch' && /watching/.test(l.msg));
    await writeFile(join(project.dir, 'queues.yaml'), RESULTS_YAML + 'functions:\n  greet:\n    replicas: two\n');
    const failure = await warren.waitForLog((l) => /config is invalid/.test(l.msg));
    expect((failure.problems as string[]).join('\n')).toMatch(/queues\.yaml:\d+:\d+ .*replicas/);
    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 1 }));
    expect((await results(1)).map((r) => r.tag)).toEqual(['v1']);
    // Said where an operator looks, not only in the log: /functions (the dashboard's banner) and `warren status`.
    const view = JSON.parse((await warren.admin('GET', '/functions')).text) as { warnings?: string[] };
    expect(view.warnings?.join('\n')).toMatch(/^not applied, the running version keeps serving: .*queues\.yaml:\d+:\d+ .*replicas/m);
    const status = await runWarren(['status', '--dir', project.dir], warren.env);
    expect(status.stdout).toMatch(/^warning: not applied, the running version keeps serving: /m);
    // Fixed: said no more.
    await writeFile(join(project.dir, 'queues.yaml'), RESULTS_YAML + 'functions:\n  greet:\n    replicas: 1\n');
    await waitFor(async () => !(JSON.parse((await warren!.admin('GET', '/functions')).text) as { warnings?: string[] }).warnings, 10_000);
  });

  it('stops a function whose file is deleted though queues.yaml has an entry for it, and starts it again when the file is back', async () => {
    project = await createProject(RESULTS_YAML + 'functions:\n  greet: { prefetch: 2 }\n', { greet: reportingHandler('v1'), other: reportingHandler('other') });
    warren = await startWarren(project.dir, vhost.url, { args: ['--watch'] });
    await warren.waitForLog((l) => l.stage === 'watch' && /watching/.test(l.msg));
    conn = await amqplib.connect(vhost.url);

    await rm(join(project.dir, 'functions', 'greet.ts'));
    const said = await warren.waitForLog((l) => l.level === 40 && l.function === 'greet' && /was deleted/.test(l.msg));
    expect(said.msg).toBe(
      'functions/greet.ts was deleted: function greet stops (its queue and messages stay); queues.yaml still has an entry for it, so a restart would refuse the config until the entry or the file is back',
    );
    await warren.waitForLog((l) => l.msg === 'function stopped; its queue and messages stay' && l.function === 'greet');
    expect(warren.logs.some((l) => /config is invalid/.test(l.msg))).toBe(false);
    expect(await consumerCount(conn, 'greet')).toBe(0);
    expect(await consumerCount(conn, 'other')).toBe(1);
    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 1 }));
    await new Promise((r) => setTimeout(r, 300));
    expect(await queueInfo(vhost.url, 'greet')).toEqual({ messageCount: 1, consumerCount: 0 });
    const functions = JSON.parse((await warren.admin('GET', '/functions')).text) as { functions: Array<{ name: string }> };
    expect(functions.functions.map((f) => f.name)).toEqual(['other']);

    // Another change meanwhile still applies; the entry without a file is said again, not refused.
    await project.writeFunction('other', reportingHandler('other-v2'));
    await warren.waitForLog((l) => l.msg === 'deployed' && l.function === 'other');

    // The file is back: the function starts and takes the message that waited.
    await project.writeFunction('greet', reportingHandler('v2'));
    expect(await results(1)).toEqual([{ tag: 'v2', handled: { n: 1 }, attempt: 1 }]);
    expect(await consumerCount(conn, 'greet')).toBe(1);
  });

  it('keeps the counters of a function whose settings change, as a code redeploy does', async () => {
    project = await createProject(RESULTS_YAML + 'functions:\n  greet: { prefetch: 1 }\n', { greet: reportingHandler('v1') });
    warren = await startWarren(project.dir, vhost.url, { args: ['--watch'] });
    await warren.waitForLog((l) => l.stage === 'watch' && /watching/.test(l.msg));
    const acked = async (): Promise<number> => {
      const metrics = (await warren!.admin('GET', '/metrics')).text;
      return Number(/^warren_messages_total\{function="greet",outcome="ack"\} (\d+)$/m.exec(metrics)?.[1] ?? NaN);
    };
    for (let n = 1; n <= 3; n++) await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n }));
    expect(await results(3)).toHaveLength(3);
    await waitFor(async () => (await acked()) === 3);

    await writeFile(join(project.dir, 'queues.yaml'), RESULTS_YAML + 'functions:\n  greet: { prefetch: 5 }\n');
    await warren.waitForLog((l) => l.msg === 'reloaded' && (l.redeployed as string[]).includes('greet'));
    expect(await acked()).toBe(3);
    const status = JSON.parse((await warren.admin('GET', '/functions/greet')).text) as { handled: number; replicas: { running: number } };
    expect(status).toMatchObject({ handled: 3, replicas: { running: 1 } });

    await publishRaw(vhost.url, '', 'greet', JSON.stringify({ n: 4 }));
    expect(await results(1)).toHaveLength(1);
    await waitFor(async () => (await acked()) === 4);

    // `warren deploy greet` right after a save the watcher applies first: it waits behind that reload
    // and answers unchanged or redeployed, never that greet does not exist.
    for (const prefetch of [7, 9, 11]) {
      await writeFile(join(project.dir, 'queues.yaml'), RESULTS_YAML + `functions:\n  greet: { prefetch: ${prefetch} }\n`);
      await new Promise((r) => setTimeout(r, 100));
      const deployed = await warren.admin('POST', '/functions/greet/deploy');
      expect(deployed.status, deployed.text).toBe(200);
      await waitFor(
        async () => (JSON.parse((await warren!.admin('GET', '/functions/greet')).text) as { settings?: { prefetch: number } }).settings?.prefetch === prefetch,
      );
    }
  });
});
