/**
 * `warren check` compares the project with what the broker already holds, as `warren start` does
 * before it declares anything: a queue that exists with other arguments is listed among the problems
 * (exit 2), with the same file:line, key and hint as a refused start. The comparison changes nothing
 * on the broker, and without a broker check still passes, saying on one line that it did not compare.
 */
import amqplib from 'amqplib';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { readProject } from '../../runtime/config';
import { declareTopology } from '../../runtime/topology/declare';
import { createTestVhost, management, type TestVhost } from '../helpers/broker';
import { createProject, freePort, runWarren, type Project } from '../helpers/runtime';

const noop = 'export default async () => undefined;\n';
const log = pino({ level: 'silent' });

/** Every queue and exchange of the vhost with what the broker holds for it, to see that nothing changed. */
async function brokerState(vhost: string): Promise<unknown> {
  const v = encodeURIComponent(vhost);
  const queues = (await management('GET', `/api/queues/${v}?columns=name,type,durable,auto_delete,arguments`)) as Array<{ name: string }>;
  const exchanges = (await management('GET', `/api/exchanges/${v}?columns=name,type,durable,auto_delete,internal,arguments`)) as Array<{ name: string }>;
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  return { queues: queues.sort(byName), exchanges: exchanges.sort(byName) };
}

/** A classic queue made outside Warren, as an earlier Warren or a person made it. */
async function declareByHand(url: string, queue: string, options: { durable: boolean }): Promise<void> {
  const conn = await amqplib.connect(url);
  try {
    await (await conn.createChannel()).assertQueue(queue, options);
  } finally {
    await conn.close();
  }
}

/** The problems a refused command listed, one line each (their hints left out). */
function problems(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.includes('[WARREN_E_'));
}

describe('warren check against the broker', () => {
  let project: Project | undefined;
  let vhost: TestVhost | undefined;
  afterEach(async () => {
    await project?.remove();
    await vhost?.cleanup();
    project = undefined;
    vhost = undefined;
  });

  /** A project whose functions slow and hang ran once (their queues exist), and a function fresh added since. */
  async function projectThatRan(): Promise<{ project: Project; vhost: TestVhost; env: Record<string, string> }> {
    vhost = await createTestVhost('warren-check');
    project = await createProject('functions:\n  slow: {}\n  hang: {}\n', { slow: noop, hang: noop });
    const env = { AMQP_URL: vhost.url };
    const read = await readProject({ dir: project.dir, env });
    expect(read.errors).toEqual([]);
    await declareTopology(read.project!.config, { log });
    await project.writeFunction('fresh', noop);
    return { project, vhost, env };
  }

  it('passes a project that matches the broker, and declares nothing (a new function queue stays absent)', async () => {
    const { project, vhost, env } = await projectThatRan();
    const before = await brokerState(vhost.name);

    const result = await runWarren(['check', '--dir', project.dir], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ok: 3 functions');

    expect(await brokerState(vhost.name)).toEqual(before);
    const names = ((await brokerState(vhost.name)) as { queues: Array<{ name: string }> }).queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['slow', 'hang', 'slow.dead', 'hang.dead']));
    expect(names.filter((n) => n.startsWith('fresh'))).toEqual([]);
  });

  it('exits 2 listing every queue that exists with other arguments, as start does, and changes nothing', async () => {
    const { project, vhost, env } = await projectThatRan();
    await project.write('queues.yaml', 'queues:\n  slow: { type: classic }\nfunctions:\n  hang: { redeliveryLimit: 5 }\n');
    const before = await brokerState(vhost.name);

    const checked = await runWarren(['check', '--dir', project.dir], env);
    expect(checked.code, checked.stderr).toBe(2);
    const listed = problems(checked.stderr);
    expect(listed).toEqual([
      expect.stringMatching(
        /^ {2}queues\.yaml:2:3 queues\.slow\.type: queue slow already exists on the broker with x-queue-type = quorum, Warren would declare it without x-queue-type/,
      ),
      expect.stringMatching(
        /^ {2}queues\.yaml:4:3 functions\.hang\.redeliveryLimit: queue hang already exists on the broker with x-delivery-limit = \d+, Warren would declare x-delivery-limit = \d+/,
      ),
    ]);
    expect(checked.stderr).toMatch(/hint: the queue slow exists as a quorum queue; to keep it set `type: quorum` under queues\.slow/);
    expect(checked.stdout).not.toContain('ok:');
    expect(await brokerState(vhost.name)).toEqual(before);
    expect(((await brokerState(vhost.name)) as { queues: Array<{ name: string }> }).queues.map((q) => q.name).filter((n) => n.startsWith('fresh'))).toEqual([]);

    // The very problems a start refuses with.
    const started = await runWarren(['start', '--dir', project.dir], { ...env, WARREN_ADMIN_PORT: String(await freePort()) }, undefined, 30_000);
    expect(started.code, started.stderr).toBe(2);
    expect(problems(started.stderr)).toEqual(listed);
  });

  it('says, as start does, that a classic dead-letter queue of an earlier Warren is kept, and declares nothing', async () => {
    vhost = await createTestVhost('warren-check');
    project = await createProject('functions:\n  slow: {}\n', { slow: noop });
    await declareByHand(vhost.url, 'slow.dead', { durable: true });
    const before = await brokerState(vhost.name);

    const result = await runWarren(['check', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.split('\n').filter((line) => line !== '')).toEqual([
      expect.stringMatching(
        /^warning: slow\.dead is a classic dead-letter queue made by an earlier Warren: it lives on one node, so it is kept but not replicated; to migrate: /,
      ),
    ]);
    expect(await brokerState(vhost.name)).toEqual(before);
  });

  it('refuses a dead-letter queue made by hand without durable (its dead letters would go with a restart), not as one of an earlier Warren', async () => {
    vhost = await createTestVhost('warren-check');
    project = await createProject('functions:\n  slow: {}\n', { slow: noop });
    await declareByHand(vhost.url, 'slow.dead', { durable: false });
    const result = await runWarren(['check', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(result.code, result.stderr).toBe(2);
    expect(problems(result.stderr)).toEqual([expect.stringMatching(/slow\.dead already exists on the broker .*\(durable differs too\)/)]);
    expect(result.stderr).not.toContain('made by an earlier Warren');
  });

  it('with a config problem, says that it did not compare with the broker rather than passing over it in silence', async () => {
    const { project, env } = await projectThatRan();
    await project.write('queues.yaml', 'queues:\n  slow: { type: classic }\nfunctions:\n  hang: { prefetch: 0 }\n');
    const checked = await runWarren(['check', '--dir', project.dir], env);
    expect(checked.code, checked.stderr).toBe(2);
    expect(problems(checked.stderr)).toEqual([expect.stringMatching(/^ {2}queues\.yaml:4:21 functions\.hang\.prefetch: /)]);
    expect(checked.stderr).toMatch(
      /^warning: did not compare with the broker's queues and exchanges: queues\.yaml has problems \(below\); check compares once they are fixed$/m,
    );
  });

  it("names each entry of a cluster's URL list that takes no connection (a wrong password, a closed port), which a failover would need", async () => {
    const { project, vhost } = await projectThatRan();
    const port = await freePort();
    const good = new URL(vhost.url);
    const wrongPassword = new URL(vhost.url);
    wrongPassword.password = 'not-the-password';
    const closed = new URL(vhost.url);
    closed.port = String(port);
    const result = await runWarren(['check', '--dir', project.dir], { AMQP_URL: [wrongPassword, closed, good].map(String).join(',') });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toEqual([
      expect.stringMatching(
        /^warning: node 1 of 3 in the URL list, 127\.0\.0\.1:5672, takes no connection \(.*ACCESS-REFUSED.*\): a failover to it would fail; its user or password is wrong/,
      ),
      expect.stringMatching(
        new RegExp(
          `^warning: node 2 of 3 in the URL list, 127\\.0\\.0\\.1:${port}, takes no connection \\(connect ECONNREFUSED .*\\): a failover to it would fail; check its host and port`,
        ),
      ),
    ]);
    expect(result.stderr).not.toContain('not-the-password');
    // One good URL alone, or a list of good ones: nothing to say.
    const fine = await runWarren(['check', '--dir', project.dir], { AMQP_URL: `${vhost.url},${vhost.url}` });
    expect(fine.stderr).toBe('');
  });

  it('without a broker, passes and says on one line that it did not compare', async () => {
    project = await createProject('functions:\n  slow: {}\n', { slow: noop });
    const port = await freePort();
    const result = await runWarren(['check', '--dir', project.dir], { AMQP_URL: `amqp://guest:secret@127.0.0.1:${port}/hf-nowhere` });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('ok: 1 function');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toEqual([
      expect.stringMatching(
        new RegExp(`^warning: skipped comparing with the broker's queues and exchanges: no broker answers at amqp://guest:\\*+@127\\.0\\.0\\.1:${port}/`),
      ),
    ]);
    expect(result.stderr).not.toContain('secret');
  });
});
