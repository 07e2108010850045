/**
 * Replay reaches only the function that dead-lettered a message. A topic exchange is bound to two
 * functions, `mailer` (which rejects the message) and `ledger`; replaying the dead letter, through the
 * CLI and through the admin API, runs `mailer` again with the original exchange and routing key in
 * `ctx`, and never `ledger` a second time (for a ledger, that would be a double booking). A dead
 * letter whose function's queue was deleted stays in the dead-letter queue, and the answer says why.
 */
import { writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestVhost, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { runWarren, waitFor } from '../helpers/runtime';
import { createProject, release, startRuntime, type Project, type Runtime } from './admin-harness';
import { handledUntil, type Handled } from './dashboard-helpers';

const YAML = `exchanges:
  events: { type: topic }
  results: { type: fanout }
queues:
  results: { type: classic }
bindings:
  - { exchange: events, queue: mailer, routingKey: 'user.*' }
  - { exchange: events, queue: ledger, routingKey: 'user.#' }
  - { exchange: results, queue: results, routingKey: '' }
functions:
  mailer: { retry: { attempts: 1 } }
  ledger: {}
`;

/** Reports each run; `mailer` rejects while the flag file exists. */
function handler(fn: string, flag?: string): string {
  return `import { existsSync } from 'node:fs';
import { Reject, type Handler } from 'warren';
const handler: Handler = async (message, ctx) => {
  ${flag ? `if (existsSync(${JSON.stringify(flag)})) throw new Reject('mail server said no');` : ''}
  await ctx.publish('results', '', { fn: ${JSON.stringify(fn)}, body: message, exchange: ctx.exchange, routingKey: ctx.routingKey, attempt: ctx.attempt });
};
export default handler;
`;
}

let vhost: TestVhost;
let project: Project;
let runtime: Runtime | undefined;
let flag: string;

beforeEach(async () => {
  vhost = await createTestVhost('replay');
  flag = join(tmpdir(), `warren-replay-flag-${vhost.name}`);
  await writeFile(flag, 'down');
  project = await createProject({ 'queues.yaml': YAML, 'functions/mailer.ts': handler('mailer', flag), 'functions/ledger.ts': handler('ledger') });
  runtime = await startRuntime(project.dir, vhost.url);
  await runtime.waitReady(45_000);
});

afterEach(async () => {
  await rm(flag, { force: true });
  await release(runtime, project, vhost);
});

const count = (seen: Handled[], fn: string, id: string) => seen.filter((h) => h.fn === fn && h.body.id === id).length;

describe('replaying a dead letter', () => {
  it('runs only the function that dead-lettered it, through the CLI and the admin API, with the original route in ctx', async () => {
    const seen: Handled[] = [];
    for (const id of ['cli', 'api'])
      await publishRaw(vhost.url, 'events', 'user.signup', JSON.stringify({ id }), { contentType: 'application/json', messageId: id });
    await handledUntil(vhost.url, seen, (all) => count(all, 'ledger', 'cli') === 1 && count(all, 'ledger', 'api') === 1);
    await waitFor(async () => (await queueInfo(vhost.url, 'mailer.dead')).messageCount === 2);
    await rm(flag);

    // Through the CLI, by limit: the oldest (`cli`) only.
    const cli = await runWarren(['dlq', 'replay', 'mailer', '--limit', '1', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain("replayed 1 message from mailer.dead to the function's queue mailer; 1 left");
    await handledUntil(vhost.url, seen, (all) => count(all, 'mailer', 'cli') === 1);

    // Through the admin API, by message id.
    const res = await runtime!.admin('/functions/mailer/dead-letters/replay', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: ['api'] }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ replayed: 1, target: 'mailer', kept: [], missing: [], replayedKeys: ['api'] });
    await handledUntil(vhost.url, seen, (all) => count(all, 'mailer', 'api') === 1);

    await new Promise((r) => setTimeout(r, 1_000));
    await handledUntil(vhost.url, seen, () => true);
    for (const id of ['cli', 'api']) {
      expect(count(seen, 'ledger', id), `ledger ran ${id}`).toBe(1);
      expect(count(seen, 'mailer', id), `mailer ran ${id}`).toBe(1);
    }
    for (const h of seen) expect([h.fn, h.exchange, h.routingKey, h.attempt]).toEqual([h.fn, 'events', 'user.signup', 1]);
    expect((await queueInfo(vhost.url, 'mailer.dead')).messageCount).toBe(0);
  });

  it('hands a message published with a CC header to the queues it names once, not again with its dead letter and its replay', async () => {
    const seen: Handled[] = [];
    // Sender-selected distribution: to mailer, and a copy to ledger by the CC header.
    await publishRaw(vhost.url, '', 'mailer', JSON.stringify({ id: 'cc' }), { contentType: 'application/json', messageId: 'cc', headers: { CC: ['ledger'] } });
    await handledUntil(vhost.url, seen, (all) => count(all, 'ledger', 'cc') === 1);
    await waitFor(async () => (await queueInfo(vhost.url, 'mailer.dead')).messageCount === 1);
    const { letter } = (await (await runtime!.admin('/functions/mailer/dead-letters/cc')).json()) as { letter: { headers: Record<string, unknown> } };
    expect(letter.headers['x-warren-original-cc']).toEqual(['ledger']);
    expect(letter.headers['CC']).toBeUndefined();
    await rm(flag);
    const cli = await runWarren(['dlq', 'replay', 'mailer', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code, cli.stderr).toBe(0);
    await handledUntil(vhost.url, seen, (all) => count(all, 'mailer', 'cc') === 1);
    await new Promise((r) => setTimeout(r, 1_000));
    await handledUntil(vhost.url, seen, () => true);
    expect(count(seen, 'ledger', 'cc'), 'ledger ran the CC copy').toBe(1);
    expect(count(seen, 'mailer', 'cc')).toBe(1);
  });

  it("keeps a dead letter whose function's queue was deleted, and says why (API and CLI)", async () => {
    await publishRaw(vhost.url, 'events', 'user.signup', JSON.stringify({ id: 'lost-queue' }), { contentType: 'application/json', messageId: 'lost-queue' });
    await waitFor(async () => (await queueInfo(vhost.url, 'mailer.dead')).messageCount === 1);
    await runtime!.admin('/functions/mailer/scale', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"replicas": 0}' });
    const conn = await amqplib.connect(vhost.url);
    await (await conn.createChannel()).deleteQueue('mailer');
    await conn.close();

    const res = await runtime!.admin('/functions/mailer/dead-letters/lost-queue/replay', { method: 'POST' });
    expect(res.status).toBe(409);
    const body = (await res.json()) as { code: string; error: string; replayed: number; kept: Array<{ key: string; why: string }> };
    expect(body.code).toBe('WARREN_E_REPLAY_REFUSED');
    expect(body.replayed).toBe(0);
    expect(body.kept).toEqual([{ messageId: 'lost-queue', key: 'lost-queue', why: expect.stringContaining('queue "mailer" does not exist') }]);
    expect(body.error).toContain('1 dead letter stayed in mailer.dead');

    const cli = await runWarren(['dlq', 'replay', 'mailer', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('kept lost-queue: the function\'s queue "mailer" does not exist');
    expect((await queueInfo(vhost.url, 'mailer.dead')).messageCount).toBe(1);
  });
});
