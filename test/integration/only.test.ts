/**
 * One deployment per function (`warren start --only fn`, what `warren manifests` generates): every
 * instance declares the whole project's topology with each function's real arguments, so `--only a`
 * and `--only b` start in any order, next to a plain `start` and next to each other.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTestVhost, managementQueue, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';

const queuesYaml = `
functions:
  a: { retry: { attempts: 2, delay: 1s } }
  b: { redeliveryLimit: 5 }
`;
const handler = `
import type { Handler } from 'warren';
const handler: Handler = async () => undefined;
export default handler;
`;

let vhost: TestVhost | undefined;
let project: Project | undefined;
const running: RunningWarren[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
  await project?.remove();
  await vhost?.cleanup();
  vhost = undefined;
  project = undefined;
});

async function start(args: string[]): Promise<RunningWarren> {
  const w = await startWarren(project!.dir, vhost!.url, { args, env: { WARREN_LOG_LEVEL: 'info' } });
  running.push(w);
  return w;
}

async function stopAll(): Promise<void> {
  const codes = await Promise.all(running.splice(0).map((w) => w.stop()));
  expect(codes.every((c) => c === 0)).toBe(true);
}

describe('warren start --only', () => {
  it('starts each function alone after a plain start, in either order, and leaves every queue with its real arguments', async () => {
    vhost = await createTestVhost('warren-only');
    project = await createProject(queuesYaml, { a: handler, b: handler });
    await start([]);
    await stopAll();
    for (const order of [
      ['a', 'b'],
      ['b', 'a'],
    ]) {
      for (const fn of order) {
        const w = await start(['--only', fn]);
        expect(w.logs.some((l) => l.msg === 'function started' && l['function'] === fn)).toBe(true);
        expect(w.logs.some((l) => l.msg === 'function started' && l['function'] !== fn)).toBe(false);
        await stopAll();
      }
    }
    expect((await managementQueue(vhost.name, 'b'))?.['arguments']).toMatchObject({ 'x-delivery-limit': 5 + 2, 'x-dead-letter-routing-key': 'b.dead' }); // redeliveryLimit + 2: the broker's backstop
    expect((await managementQueue(vhost.name, 'a'))?.['arguments']).toMatchObject({ 'x-delivery-limit': 3 + 2, 'x-dead-letter-routing-key': 'a.dead' });
  });

  it('runs `--only a` first on a fresh vhost, then `--only b`, side by side, each consuming its own queue', async () => {
    vhost = await createTestVhost('warren-only-pair');
    project = await createProject(queuesYaml, { a: handler, b: handler });
    await start(['--only', 'a']);
    await start(['--only', 'b']);
    const url = vhost.url;
    await waitFor(async () => (await queueInfo(url, 'a')).consumerCount === 1 && (await queueInfo(url, 'b')).consumerCount === 1);
    await publishRaw(url, '', 'a', '{}');
    await publishRaw(url, '', 'b', '{}');
    await waitFor(async () => (await queueInfo(url, 'a')).messageCount === 0 && (await queueInfo(url, 'b')).messageCount === 0);
    await stopAll();
  });

  it('answers a command naming a function of the project it does not run with the --only it was started with', async () => {
    vhost = await createTestVhost('warren-only-other');
    project = await createProject(queuesYaml + '  c: {}\n', { a: handler, b: handler, c: handler });
    const w = await start(['--only', 'a,c']);
    const scaled = await runWarren(['scale', 'b', '2'], w.env);
    expect(scaled.code).toBe(2);
    expect(scaled.stderr).toContain('function b is not run by this runtime (started with --only a,c)');
    expect(scaled.stderr).toContain('WARREN_E_UNKNOWN_FUNCTION');
    // A name the project does not have at all is still unknown.
    expect((await runWarren(['scale', 'nope', '2'], w.env)).stderr).toContain('no function named nope');
    await stopAll();
  });
});
