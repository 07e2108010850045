/**
 * `warren deploy FN` on a running runtime (SPEC §5): under a steady stream to two functions, the
 * redeployed one switches version with 0 lost and 0 duplicated, the other is untouched; a handler
 * that does not build or load keeps the old version serving and the command prints file:line. A file
 * added since the runtime started is started by `deploy FN`; `deploy --all` reads the project again.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import amqplib from 'amqplib';
import { createTestVhost } from '../helpers/broker';
import {
  collectResults,
  consumerCount,
  createProject,
  lostAndDuplicated,
  publishIds,
  recordingHandler,
  recordingQueues,
  runCli,
  heldPerTest,
  startRuntime,
} from './admin-harness';

const hold = heldPerTest();

/**
 * Publishes `perFunction` messages to each queue in small confirmed batches, spread over time; with
 * `midway`, the second half waits for it, so the deploy lands mid-stream however slowly the
 * deploying command starts on a loaded machine.
 */
async function stream(url: string, queues: readonly string[], perFunction: number, midway?: Promise<unknown>): Promise<Map<string, string[]>> {
  const ids = new Map(queues.map((q) => [q, [] as string[]]));
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    for (let i = 0; i < perFunction; i += 50) {
      if (midway && i === Math.floor(perFunction / 100) * 50) await midway;
      for (const q of queues) {
        for (let j = i; j < Math.min(i + 50, perFunction); j++) {
          const id = `${q}-${j}`;
          ids.get(q)!.push(id);
          ch.publish('', q, Buffer.from(JSON.stringify({ id })), { persistent: true, messageId: id, contentType: 'application/json' });
        }
      }
      await ch.waitForConfirms();
      await new Promise((r) => setTimeout(r, 40)); // about 2.5 s in all: the deploy lands mid-stream
    }
    await ch.close();
  } finally {
    await conn.close();
  }
  return ids;
}

it('redeploys one function during a 5,000-message stream: 0 lost, 0 duplicated, the other untouched; a broken build keeps it serving', async () => {
  const vhost = hold('vhost', await createTestVhost('deploy'));
  const project = hold(
    'project',
    await createProject({
      'queues.yaml': recordingQueues({ alpha: { replicas: 2, prefetch: 20 }, beta: { replicas: 2, prefetch: 20 } }),
      'functions/alpha.ts': recordingHandler('v1'),
      'functions/beta.ts': recordingHandler('v1'),
    }),
  );
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();
  const before = (await (await runtime.admin('/functions')).json()) as { functions: Array<{ name: string; version: string }> };
  const versionOf = (list: typeof before, name: string) => list.functions.find((f) => f.name === name)!.version;

  await project.write('functions/alpha.ts', recordingHandler('v2'));
  let deploying: (value: unknown) => void = () => undefined;
  const streaming = stream(vhost.url, ['alpha', 'beta'], 2_500, new Promise((resolve) => (deploying = resolve)));
  await new Promise((r) => setTimeout(r, 250));
  const deployed = await runCli(['deploy', 'alpha'], runtime.env);
  deploying(undefined);
  expect(deployed.stderr).toBe('');
  expect(deployed.code).toBe(0);
  const ids = await streaming;

  const results = await collectResults(vhost.url, 5_000, 30_000);
  const alpha = results.filter((r) => r.fn === 'alpha');
  const beta = results.filter((r) => r.fn === 'beta');
  expect(lostAndDuplicated(ids.get('alpha')!, alpha)).toEqual({ lost: [], duplicated: [] });
  expect(lostAndDuplicated(ids.get('beta')!, beta)).toEqual({ lost: [], duplicated: [] });
  // The switch happened mid-stream: both versions served alpha; beta never changed.
  expect(new Set(alpha.map((r) => r.v))).toEqual(new Set(['v1', 'v2']));
  expect(new Set(beta.map((r) => r.v))).toEqual(new Set(['v1']));

  const after = (await (await runtime.admin('/functions')).json()) as typeof before;
  const alphaVersion = versionOf(after, 'alpha');
  expect(alphaVersion).not.toBe(versionOf(before, 'alpha'));
  expect(versionOf(after, 'beta')).toBe(versionOf(before, 'beta'));
  expect(deployed.stdout).toContain(`alpha: deployed ${alphaVersion} (was ${versionOf(before, 'alpha')})`);
  const status = await runCli(['status'], runtime.env);
  expect(status.stdout).toMatch(new RegExp(`^alpha\\s+${alphaVersion}\\s+2/2\\s+0\\s+2500\\s+0\\s+0\\s+0\\s+0$`, 'm'));

  // A syntax error: exit 2 with file:line, and v2 keeps serving.
  await project.write('functions/alpha.ts', 'export default async function handler(message: unknown) {\n  const x = ;\n  return message;\n}\n');
  const broken = await runCli(['deploy', 'alpha'], runtime.env);
  expect(broken.code).toBe(2);
  expect(broken.stderr).toMatch(/functions\/alpha\.ts:2:\d+/);
  expect(broken.stderr).toContain('WARREN_E_HANDLER_BUILD');
  expect(versionOf((await (await runtime.admin('/functions')).json()) as typeof before, 'alpha')).toBe(alphaVersion);
  await publishIds(vhost.url, 'alpha', ['after-broken']);
  expect(await collectResults(vhost.url, 1)).toEqual([{ id: 'after-broken', fn: 'alpha', v: 'v2' }]);

  // A file that builds but does not load is bad input too: exit 2 naming the file (and the line of a throw), v2 keeps serving.
  await project.write('functions/alpha.ts', 'export const handler = async () => null;\n');
  const noDefault = await runCli(['deploy', 'alpha'], runtime.env);
  expect(noDefault.code).toBe(2);
  expect(noDefault.stderr).toMatch(/functions\/alpha\.ts:1 alpha\.ts has no default export function/);
  expect(noDefault.stderr).toContain('WARREN_E_HANDLER_EXPORT');
  await project.write('functions/alpha.ts', "const ready = false;\nif (!ready) throw new Error('no config');\nexport default async () => null;\n");
  const throwing = await runCli(['deploy', 'alpha'], runtime.env);
  expect(throwing.code).toBe(2);
  expect(throwing.stderr).toMatch(/functions\/alpha\.ts:2:\d+ alpha\.ts threw while loading: Error: no config/);
  expect(throwing.stderr).toContain('WARREN_E_HANDLER_LOAD');
  expect(versionOf((await (await runtime.admin('/functions')).json()) as typeof before, 'alpha')).toBe(alphaVersion);
  await publishIds(vhost.url, 'alpha', ['after-no-default']);
  expect(await collectResults(vhost.url, 1)).toEqual([{ id: 'after-no-default', fn: 'alpha', v: 'v2' }]);

  // A queues.yaml with two mistakes: --all lists both, each with its place, what was expected and a hint, as `check` does.
  const yaml = recordingQueues({ alpha: { replicas: 2, prefetch: 20 }, beta: { replicas: 2, prefetch: 20 } });
  await project.write('queues.yaml', yaml.replace('    prefetch: 20\n', '    prefetch: 0\n    replicaz: 2\n'));
  const invalid = await runCli(['deploy', '--all'], runtime.env);
  expect(invalid.code).toBe(2);
  expect(invalid.stderr).toMatch(/^warren: 2 problems:$/m);
  expect(invalid.stderr).toMatch(/queues\.yaml:\d+:\d+ functions\.alpha\.prefetch: got 0 \(expected an integer from 1 to 10000\) \[WARREN_E_CONFIG_TYPE\]/);
  expect(invalid.stderr).toMatch(/functions\.alpha\.replicaz: unknown key "replicaz" \[WARREN_E_CONFIG_UNKNOWN_KEY\]\n {4}hint: did you mean `replicas`\?/);
  await project.write('queues.yaml', yaml);

  // Unchanged files redeploy as a no-op; --all walks every function.
  await project.write('functions/alpha.ts', recordingHandler('v2'));
  const all = await runCli(['deploy', '--all'], runtime.env);
  expect(all.code).toBe(0);
  expect(all.stdout).toContain(`alpha: unchanged (${alphaVersion})`);
  expect(all.stdout).toContain(`beta: unchanged (${versionOf(before, 'beta')})`);
  expect((await runCli(['deploy'], runtime.env)).code).toBe(2);

  expect(await runtime.stop()).toBe(0);
});

it('starts a function whose file was added since the runtime started (deploy FN), and --all reads the whole project again', async () => {
  const vhost = hold('vhost', await createTestVhost('deploy-new'));
  const project = hold(
    'project',
    await createProject({
      'queues.yaml': recordingQueues({ alpha: {} }),
      'functions/alpha.ts': recordingHandler('v1'),
    }),
  );
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();

  // A changed entry in queues.yaml is applied by `deploy FN` too, not only by --all; an invalid one refuses it.
  await project.write('queues.yaml', recordingQueues({ alpha: { prefetch: 3 } }));
  const settings = await runCli(['deploy', 'alpha'], runtime.env);
  expect(settings.stderr).toBe('');
  expect(settings.stdout).toMatch(/^alpha: redeployed [0-9a-f]{12} with its new settings$/m);
  const functions = (await (await runtime.admin('/functions')).json()) as { functions: Array<{ name: string; settings?: { prefetch: number } }> };
  expect(functions.functions.find((f) => f.name === 'alpha')?.settings?.prefetch).toBe(3);
  await project.write('queues.yaml', recordingQueues({ alpha: { prefetch: 3 } }).replace('prefetch: 3', 'prefetch: three'));
  const invalid = await runCli(['deploy', 'alpha'], runtime.env);
  expect(invalid.code).toBe(2);
  expect(invalid.stderr).toMatch(/queues\.yaml:\d+:\d+ functions\.alpha\.prefetch/);
  await project.write('queues.yaml', recordingQueues({ alpha: { prefetch: 3 } }));
  expect((await runCli(['deploy', 'alpha'], runtime.env)).stdout).toMatch(/^alpha: unchanged/m);

  // A file without an entry in queues.yaml runs with the defaults: its own queue, named after it.
  await project.write('functions/weird.ts', recordingHandler('w1'));
  const weird = await runCli(['deploy', 'weird'], runtime.env);
  expect(weird.stderr).toBe('');
  expect(weird.code).toBe(0);
  expect(weird.stdout).toMatch(/^weird: started [0-9a-f]{12}$/m);
  expect(await consumerCount(vhost.url, 'weird')).toBe(1);
  const unknown = await runCli(['deploy', 'nope'], runtime.env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('no function named nope');

  // --all: a new file starts, a deleted one stops (its queue stays), the others are left as they are.
  await project.write('functions/gamma.ts', recordingHandler('g1'));
  await rm(join(project.dir, 'functions', 'alpha.ts'));
  await project.write('queues.yaml', recordingQueues({}));
  const all = await runCli(['deploy', '--all'], runtime.env);
  expect(all.stderr).toBe('');
  expect(all.code).toBe(0);
  expect(all.stdout).toContain('alpha: stopped, no longer in the project (its queue and messages stay)');
  expect(all.stdout).toMatch(/^gamma: started [0-9a-f]{12}$/m);
  expect(all.stdout).toMatch(/^weird: unchanged \([0-9a-f]{12}\)$/m);
  expect(await consumerCount(vhost.url, 'gamma')).toBe(1);
  expect(await consumerCount(vhost.url, 'alpha')).toBe(0);
  const view = (await (await runtime.admin('/functions')).json()) as { functions: Array<{ name: string }> };
  expect(view.functions.map((f) => f.name).sort()).toEqual(['gamma', 'weird']);

  // A handler that does not load is not started: exit 2 naming the file, nothing left consuming.
  await project.write('functions/broken.ts', 'export const handler = async () => null;\n');
  const broken = await runCli(['deploy', 'broken'], runtime.env);
  expect(broken.code).toBe(2);
  expect(broken.stderr).toMatch(/functions\/broken\.ts:1 broken\.ts has no default export function/);
  expect(await consumerCount(vhost.url, 'broken')).toBe(0);

  // A deleted file, deployed by name, stops its function as --all does, rather than failing to build it.
  await rm(join(project.dir, 'functions', 'broken.ts'));
  await rm(join(project.dir, 'functions', 'weird.ts'));
  const gone = await runCli(['deploy', 'weird'], runtime.env);
  expect(gone.stderr).toBe('');
  expect(gone.code).toBe(0);
  expect(gone.stdout).toBe('weird: stopped, no longer in the project (its queue and messages stay)\n');
  expect(await consumerCount(vhost.url, 'weird')).toBe(0);
  // With an entry left in queues.yaml, the one who deployed is told that the next start would refuse it.
  await project.write('queues.yaml', recordingQueues({ gamma: {} }));
  await rm(join(project.dir, 'functions', 'gamma.ts'));
  const entry = await runCli(['deploy', 'gamma'], runtime.env);
  expect(entry.stdout).toBe('gamma: stopped, no longer in the project (its queue and messages stay)\n');
  expect(entry.stderr).toMatch(/no handler file for function "gamma" \[WARREN_E_HANDLER_MISSING\]/);
  expect(entry.stderr).not.toMatch(/Could not resolve/);
  expect(entry.code).toBe(2);
  expect(await consumerCount(vhost.url, 'gamma')).toBe(0);

  expect(await runtime.stop()).toBe(0);
});

it('a new version that dies right after it starts fails the deploy (exit 1, why) and the old version keeps serving', async () => {
  const vhost = hold('vhost', await createTestVhost('deploy-dies'));
  const project = hold(
    'project',
    await createProject({
      'queues.yaml': recordingQueues({ alpha: { replicas: 2, prefetch: 5 } }),
      'functions/alpha.ts': recordingHandler('v1'),
    }),
  );
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();
  const versionNow = async () =>
    ((await (await runtime.admin('/functions')).json()) as { functions: Array<{ name: string; version: string }> }).functions[0]!.version;
  const v1 = await versionNow();

  // It loads and consumes, then a timer its module set throws: the replica thread dies 200 ms in.
  await project.write('functions/alpha.ts', `setTimeout(() => { throw new Error('lost its config'); }, 200);\n${recordingHandler('v2')}`);
  const deployed = await runCli(['deploy', 'alpha'], runtime.env);
  expect(deployed.code).toBe(1);
  expect(deployed.stderr).toContain('WARREN_E_DEPLOY_FAILED');
  expect(deployed.stderr).toMatch(/replica \d+ of the new version died \d+ ms after it started consuming: uncaught Error: lost its config/);
  expect(await versionNow()).toBe(v1);

  // v1 still consumes, two replicas of it, and handles what comes next.
  await publishIds(vhost.url, 'alpha', ['after-death-1', 'after-death-2', 'after-death-3']);
  const results = await collectResults(vhost.url, 3);
  expect(results.map((r) => r.v)).toEqual(['v1', 'v1', 'v1']);
  expect(await consumerCount(vhost.url, 'alpha')).toBe(2);

  // Fixed, it deploys.
  await project.write('functions/alpha.ts', recordingHandler('v3'));
  const fixed = await runCli(['deploy', 'alpha'], runtime.env);
  expect(fixed.stderr).toBe('');
  expect(fixed.code).toBe(0);
  await publishIds(vhost.url, 'alpha', ['after-fix']);
  expect(await collectResults(vhost.url, 1)).toEqual([{ id: 'after-fix', fn: 'alpha', v: 'v3' }]);
  expect(await consumerCount(vhost.url, 'alpha')).toBe(2);

  expect(await runtime.stop()).toBe(0);
});

it('keeps an ordered function in order through redeploys under a stream: the old replica finishes its message before the new one takes the next', async () => {
  const vhost = hold('vhost', await createTestVhost('deploy-ordered'));
  const orderedHandler = (version: string) => `const VERSION = ${JSON.stringify(version)};
export default async function handler(message: { id: string }, ctx: { functionName: string; attempt: number }) {
  await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  return { id: message.id, fn: ctx.functionName, v: VERSION + '@' + ctx.attempt };
}
`;
  const queues = recordingQueues({ ord: { replicas: 2 } }).replace('    prefetch: 1\n', '    prefetch: 1\n    ordered: true\n');
  const project = hold('project', await createProject({ 'queues.yaml': queues, 'functions/ord.ts': orderedHandler('v0') }));
  const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
  await runtime.waitReady();

  const ids = Array.from({ length: 500 }, (_, i) => `o${String(i).padStart(3, '0')}`);
  const publishing = (async () => {
    for (let i = 0; i < ids.length; i += 10) {
      await publishIds(vhost.url, 'ord', ids.slice(i, i + 10));
      await new Promise((r) => setTimeout(r, 60));
    }
  })();
  for (let v = 1; v <= 4; v++) {
    await new Promise((r) => setTimeout(r, 400));
    await project.write('functions/ord.ts', orderedHandler(`v${v}`));
    const deployed = await runCli(['deploy', 'ord'], runtime.env);
    expect(deployed.code).toBe(0);
  }
  await publishing;

  const results = await collectResults(vhost.url, ids.length, 30_000);
  expect(lostAndDuplicated(ids, results)).toEqual({ lost: [], duplicated: [] });
  // Handled in the order published, each once, as attempt 1, across all five versions.
  expect(results.map((r) => r.id)).toEqual(ids);
  expect(results.filter((r) => !r.v.endsWith('@1'))).toEqual([]);
  expect(new Set(results.map((r) => r.v.split('@')[0])).size).toBeGreaterThanOrEqual(3);
  expect(await runtime.stop()).toBe(0);
});
