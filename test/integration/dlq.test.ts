/**
 * `warren dlq list|replay|purge` against the real broker: a handler fails while a flag file exists,
 * its messages are dead-lettered; `list` shows them without removing any; after the fix, `replay`
 * sends them back to the function's own queue, the dead-letter queue empties and the
 * handler handles them; `purge` empties it; none of the commands needs a running runtime.
 */
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { createTestVhost, getAll, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { reportingHandler, RESULTS_YAML } from './watch-helpers';
import { FULL_READ_MAX } from '../../runtime/deadletters/list';

let vhost: TestVhost;
let project: Project;
let warren: RunningWarren | undefined;

const YAML = `${RESULTS_YAML.replace('exchanges:\n', 'exchanges:\n  jobs: { type: direct }\n')}  - { exchange: jobs, queue: flaky, routingKey: go }
functions:
  flaky:
    retry: { attempts: 1 }
`;

beforeEach(async () => {
  vhost = await createTestVhost('dlq');
});

afterEach(async () => {
  await warren?.stop();
  warren = undefined;
  await project?.remove();
  await vhost.cleanup();
});

async function deleteQueue(url: string, queue: string): Promise<void> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  await ch.deleteQueue(queue);
  await conn.close();
}

async function declareQueue(url: string, queue: string): Promise<void> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await conn.close();
}

/** `n` dead letters d0, d1, … straight into a dead-letter queue, with confirms. */
async function fillDead(url: string, queue: string, n: number): Promise<void> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < n; i++) {
    const at = new Date(Date.UTC(2026, 0, 1) + i).toISOString();
    const headers = {
      'x-warren-function': 'flaky',
      'x-warren-reason': 'reject',
      'x-warren-error': 'no',
      'x-warren-attempts': 1,
      'x-warren-dead-lettered-at': at,
    };
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ n: i })), { persistent: true, contentType: 'application/json', messageId: `d${i}`, headers });
  }
  await ch.waitForConfirms();
  await conn.close();
}

/** The message ids of the first `n` messages of `queue`, in queue order, taken by a consumer (a get per message is slow on a quorum queue). */
async function drainIds(url: string, queue: string, n: number): Promise<string[]> {
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createChannel();
    const out: string[] = [];
    await new Promise<void>((resolve) => {
      void ch.consume(
        queue,
        (msg) => {
          if (msg && out.length < n) out.push(String(msg.properties.messageId));
          if (out.length === n) resolve();
        },
        { noAck: true },
      );
    });
    await ch.close();
    return out;
  } finally {
    await conn.close();
  }
}

const ids = (letters: Array<{ messageId: string | null }>) => letters.map((l) => l.messageId);

const dlq = (project: Project, ...args: string[]) => runWarren(['dlq', ...args, '--dir', project.dir], { AMQP_URL: vhost.url });

describe('warren dlq', () => {
  it("lists dead letters without removing them, replays them into the function's queue after the fix, and purges", async () => {
    const flag = join(tmpdir(), `warren-dlq-flag-${vhost.name}`);
    await writeFile(flag, 'up');
    project = await createProject(YAML, { flaky: reportingHandler('fixed', flag) });
    warren = await startWarren(project.dir, vhost.url, { args: ['--watch'] });

    for (let n = 1; n <= 3; n++) await publishRaw(vhost.url, 'jobs', 'go', JSON.stringify({ n }), { contentType: 'application/json', messageId: `m${n}` });
    await waitFor(async () => (await queueInfo(vhost.url, 'flaky.dead')).messageCount === 3, 10_000);

    const listed = await dlq(project, 'list', 'flaky', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const list = JSON.parse(listed.stdout) as { total: number; letters: Array<Record<string, unknown>> };
    expect(list.total).toBe(3);
    expect(list.letters.map((l) => [l.messageId, l.error, l.attempts, l.reason, l.function, l.originalExchange, l.originalRoutingKey, l.bodyPreview])).toEqual(
      [1, 2, 3].map((n) => [`m${n}`, `flag is up: {"n":${n}}`, 1, 'error', 'flaky', 'jobs', 'go', `{"n":${n}}`]),
    );
    for (const l of list.letters) expect(Date.now() - Date.parse(String(l.deadLetteredAt))).toBeLessThan(60_000);
    // Listing removes nothing.
    expect((await queueInfo(vhost.url, 'flaky.dead')).messageCount).toBe(3);

    const human = await dlq(project, 'list', 'flaky', '--limit', '2');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('flaky.dead: 3 dead letters (showing the oldest 2');
    expect(human.stdout).toContain('error:    flag is up: {"n":1}');
    expect(human.stdout).toContain('reason:   error, after 1 attempt');
    expect(human.stdout).toContain('body:     {"n":2}\n');
    expect(human.stdout).not.toContain('m3');

    // Fix the handler, replay: the dead-letter queue empties and every message is handled.
    await rm(flag);
    const replayed = await dlq(project, 'replay', 'flaky');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain("replayed 3 messages from flaky.dead to the function's queue flaky; 0 left");
    expect((await queueInfo(vhost.url, 'flaky.dead')).messageCount).toBe(0);
    const handled: Array<{ handled: { n: number }; attempt: number }> = [];
    await waitFor(async () => {
      for (const m of await getAll(vhost.url, 'results')) handled.push(JSON.parse(m.content.toString()) as { handled: { n: number }; attempt: number });
      return handled.length >= 3;
    });
    // Replayed copies start afresh (attempt 1), once each.
    expect(handled.map((h) => [h.handled.n, h.attempt]).sort()).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await getAll(vhost.url, 'results')).toEqual([]);

    // No runtime needed: stop it, dead-letter by hand, purge.
    await warren.stop();
    warren = undefined;
    for (let n = 4; n <= 5; n++) await publishRaw(vhost.url, '', 'flaky.dead', JSON.stringify({ n }));
    const purged = await dlq(project, 'purge', 'flaky');
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stdout).toBe('purged 2 messages from flaky.dead\n');
    expect((await queueInfo(vhost.url, 'flaky.dead')).messageCount).toBe(0);
    expect((await dlq(project, 'list', 'flaky')).stdout).toBe('flaky.dead is empty\n');
  });

  it("replays a dead letter whose original route is unknown or gone into the function's queue, and keeps them all when that queue is gone", async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    warren = await startWarren(project.dir, vhost.url);
    await warren.stop();
    warren = undefined;
    await publishRaw(vhost.url, '', 'flaky.dead', 'no headers', { messageId: 'orphan' });
    await publishRaw(vhost.url, '', 'flaky.dead', 'gone', {
      messageId: 'gone',
      headers: { 'x-warren-original-exchange': 'deleted-exchange', 'x-warren-original-routing-key': 'x' },
    });
    // The function's queue is gone: nothing can be replayed, everything stays, and the command says why.
    await deleteQueue(vhost.url, 'flaky');
    const refused = await dlq(project, 'replay', 'flaky');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("replayed 0 messages from flaky.dead to the function's queue flaky; 2 left");
    expect(refused.stdout).toContain('kept orphan: the function\'s queue "flaky" does not exist');
    expect(refused.stdout).toContain('kept gone: the function\'s queue "flaky" does not exist');
    expect((await queueInfo(vhost.url, 'flaky.dead')).messageCount).toBe(2);
    // Declared again: both go to it, whatever their original route, which travels in the headers.
    await declareQueue(vhost.url, 'flaky');
    const replayed = await dlq(project, 'replay', 'flaky');
    expect(replayed.code, replayed.stdout).toBe(0);
    expect(replayed.stdout).toContain("replayed 2 messages from flaky.dead to the function's queue flaky; 0 left");
    const copies = await getAll(vhost.url, 'flaky');
    // Taken on several channels at once, the copies may arrive in either order.
    expect(
      copies.map((m) => [m.properties.messageId, m.fields.exchange, m.fields.routingKey, m.properties.headers?.['x-warren-original-exchange'] ?? null]).sort(),
    ).toEqual([
      ['gone', '', 'flaky', 'deleted-exchange'],
      ['orphan', '', 'flaky', null],
    ]);
  });

  it('replays the dead letters of a queue no function consumes now (a queue renamed) to the function they name, else says that the copies wait there', async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    await declareQueue(vhost.url, 'old_flaky');
    await declareQueue(vhost.url, 'old_flaky.dead');
    await publishRaw(vhost.url, '', 'old_flaky.dead', '{"n":1}', { messageId: 'left-behind' });
    const replayed = await dlq(project, 'replay', 'old_flaky');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain("replayed 1 message from old_flaky.dead to the function's queue old_flaky; 0 left");
    expect(replayed.stderr).toContain('warning: no function of this project consumes old_flaky: the 1 replayed there wait until one does');
    // A function's own queue: nothing to warn of.
    expect((await dlq(project, 'replay', 'flaky')).stderr).not.toContain('warning');
    // Letters that name their function (Warren dead-lettered them) go to its queue as it is now.
    await declareQueue(vhost.url, 'flaky');
    await declareQueue(vhost.url, 'older_flaky.dead');
    await publishRaw(vhost.url, '', 'older_flaky.dead', '{"n":2}', { messageId: 'named', headers: { 'x-warren-function': 'flaky' } });
    const owned = await dlq(project, 'replay', 'older_flaky');
    expect(owned.code, owned.stderr).toBe(0);
    expect(owned.stdout).toContain("replayed 1 message from older_flaky.dead to the function's queue flaky; 0 left");
    expect(owned.stderr).toContain('dead-lettered by function flaky, whose queue is now flaky');
    expect(owned.stderr).not.toContain('warning');
    expect((await queueInfo(vhost.url, 'flaky')).messageCount).toBe(1);
  });

  it('pages and searches a dead-letter queue oldest first, read after read; a large one is paged reading only as far as the page', async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    warren = await startWarren(project.dir, vhost.url);
    await fillDead(vhost.url, 'flaky.dead', 200);
    const page = async (query: string) => {
      const res = await warren!.admin('GET', `/functions/flaky/dead-letters?${query}`);
      expect(res.status, res.text).toBe(200);
      return JSON.parse(res.text) as { total: number; matched: number; scanned: number; letters: Array<{ messageId: string | null }> };
    };

    const first = await dlq(project, 'list', 'flaky', '--limit', '2', '--json');
    expect(ids((JSON.parse(first.stdout) as { letters: Array<{ messageId: string }> }).letters)).toEqual(['d0', 'd1']);
    const second = await page('offset=2&limit=2');
    expect(second).toMatchObject({ total: 200, matched: 200 });
    expect(ids(second.letters)).toEqual(['d2', 'd3']);
    expect(ids((await page('offset=4&limit=3')).letters)).toEqual(['d4', 'd5', 'd6']);
    const searched = await page('search=d150');
    expect(searched).toMatchObject({ total: 200, matched: 1, scanned: 200 });
    expect(ids(searched.letters)).toEqual(['d150']);
    // A quorum queue takes the letters back in an order of its own: the pages still follow the time of death.
    expect(ids((await page('offset=0&limit=4')).letters)).toEqual(['d0', 'd1', 'd2', 'd3']);
    expect(ids((await page('offset=198&limit=5')).letters)).toEqual(['d198', 'd199']);
    expect((await drainIds(vhost.url, 'flaky.dead', 200)).sort()).toEqual(Array.from({ length: 200 }, (_, i) => `d${i}`).sort());

    // Past FULL_READ_MAX, a page reads only as far as it shows, and what lies beyond keeps its place.
    const large = FULL_READ_MAX + 100;
    await fillDead(vhost.url, 'flaky.dead', large);

    const deep = await page('offset=2&limit=2');
    expect(deep).toMatchObject({ total: large, matched: large, scanned: 4 });
    expect(ids(deep.letters)).toEqual(['d2', 'd3']);
    const after = await drainIds(vhost.url, 'flaky.dead', large);

    expect(new Set(after.slice(0, 4))).toEqual(new Set(['d0', 'd1', 'd2', 'd3']));
    expect(after.slice(4)).toEqual(Array.from({ length: large - 4 }, (_, i) => `d${i + 4}`));
  });

  it('with 2,100 dead letters, after a page read the whole queue, `list --limit 3` shows the same three twice and `replay --limit 3` replays those three', async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    warren = await startWarren(project.dir, vhost.url);
    await fillDead(vhost.url, 'flaky.dead', 2_100);
    const all = await warren.admin('GET', '/functions/flaky/dead-letters?search=d2099');
    expect(JSON.parse(all.text)).toMatchObject({ matched: 1, scanned: 2_100 });
    const listed = async () =>
      ids((JSON.parse((await dlq(project!, 'list', 'flaky', '--limit', '3', '--json')).stdout) as { letters: Array<{ messageId: string }> }).letters);
    expect(await listed()).toEqual(['d0', 'd1', 'd2']);
    expect(await listed()).toEqual(['d0', 'd1', 'd2']);
    const replayed = await dlq(project, 'replay', 'flaky', '--limit', '3', '--json');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect((JSON.parse(replayed.stdout) as { replayedKeys: string[] }).replayedKeys.sort()).toEqual(['d0', 'd1', 'd2']);
    expect(await listed()).toEqual(['d3', 'd4', 'd5']);
  });

  it('replays many side by side: a copy the broker refuses keeps its dead letter, every other one leaves after its own confirm', async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    // The function's queue takes 10 more messages, then the broker refuses copies (nack).
    const conn = await amqplib.connect(vhost.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('flaky.dead', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue('flaky', { durable: true, arguments: { 'x-queue-type': 'classic', 'x-max-length': 10, 'x-overflow': 'reject-publish' } });
    await conn.close();
    await fillDead(vhost.url, 'flaky.dead', 100);

    const replayed = await dlq(project, 'replay', 'flaky', '--json');
    expect(replayed.code, replayed.stderr).toBe(1);
    const result = JSON.parse(replayed.stdout) as { replayed: number; replayedKeys: string[]; kept: Array<{ key: string; why: string }>; remaining: number };
    expect(result.replayed).toBe(10);
    expect(result.kept).toHaveLength(90);
    for (const k of result.kept) expect(k.why).toContain('the broker refused the copy (nack): "flaky" is most likely full');
    expect(result.remaining).toBe(90);
    // Nothing lost, nothing twice: the 10 copies are the 10 replayed, the 90 kept are still dead letters.
    const copies = (await getAll(vhost.url, 'flaky')).map((m) => String(m.properties.messageId));
    const dead = (await getAll(vhost.url, 'flaky.dead')).map((m) => String(m.properties.messageId));
    expect(copies.sort()).toEqual([...result.replayedKeys].sort());
    expect(dead.sort()).toEqual(result.kept.map((k) => k.key).sort());
    expect(new Set([...copies, ...dead]).size).toBe(100);
  });

  it('replays each dead letter once even when the handler dead-letters the copies again at once', async () => {
    project = await createProject(
      `functions:
  rej: { replicas: 2, prefetch: 50 }
`,
      {
        rej: `import { Reject } from 'warren';
export default async () => { throw new Reject('still no'); };
`,
      },
    );
    warren = await startWarren(project.dir, vhost.url);
    await fillDead(vhost.url, 'rej.dead', 200);
    const replayed = await runWarren(['dlq', 'replay', 'rej', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toMatch(/^replayed 200 messages from rej.dead to the function's queue rej; \d+ left\n$/);
    // Each came back once: 200 dead letters again, one per id.
    await waitFor(async () => (await queueInfo(vhost.url, 'rej.dead')).messageCount === 200 && (await queueInfo(vhost.url, 'rej')).messageCount === 0, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const dead = await getAll(vhost.url, 'rej.dead');
    expect(new Set(dead.map((m) => m.properties.messageId)).size).toBe(200);
    for (const m of dead) expect(m.properties.headers?.['x-warren-error']).toBe('still no');
  });

  it('lists and replays only the dead letters a search or an id picks, from the terminal; an id not there is named', async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    // Declared, then stopped: the replayed copies stay in the function's queue to be counted.
    await (await startWarren(project.dir, vhost.url)).stop();
    expect((await dlq(project, 'list', 'flaky', '--search', 'anything')).stdout).toBe('flaky.dead is empty\n');
    const letters = [
      ['a1', 'connect ECONNREFUSED 10.0.0.7:5432'],
      ['b1', 'amount must be positive'],
      ['a2', 'connect ECONNREFUSED 10.0.0.7:5432'],
      ['b2', 'amount must be positive'],
      ['a3', 'connect ECONNREFUSED 10.0.0.8:5432'],
    ];
    for (const [id, error] of letters) {
      await publishRaw(vhost.url, '', 'flaky.dead', JSON.stringify({ id }), {
        messageId: id,
        contentType: 'application/json',
        headers: { 'x-warren-function': 'flaky', 'x-warren-reason': 'error', 'x-warren-error': error, 'x-warren-attempts': 1 },
      });
    }

    const listed = await dlq(project, 'list', 'flaky', '--search', 'econnrefused 10.0.0.7');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('flaky.dead: 2 dead letters of 5 match "econnrefused 10.0.0.7"');
    expect(listed.stdout).toContain(' a1 ');
    expect(listed.stdout).toContain(' a2 ');
    expect(listed.stdout).not.toContain(' a3 ');
    expect(listed.stdout).not.toContain(' b1 ');
    expect((await dlq(project, 'list', 'flaky', '--search', 'nothing-like-this')).stdout).toBe('flaky.dead: no dead letter matches "nothing-like-this" of 5\n');

    const replayed = await dlq(project, 'replay', 'flaky', '--search', 'ECONNREFUSED');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain("replayed 3 messages from flaky.dead to the function's queue flaky; 2 left");

    const byId = await dlq(project, 'replay', 'flaky', '--id', 'b1', '--id', 'zz9');
    expect(byId.code).toBe(1);
    expect(byId.stdout).toContain("replayed 1 message from flaky.dead to the function's queue flaky; 1 left");
    expect(byId.stdout).toContain('not found: zz9');

    // Nothing lost, nothing twice: the four picked are in the function's queue, the fifth still a dead letter.
    expect((await getAll(vhost.url, 'flaky')).map((m) => String(m.properties.messageId)).sort()).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect((await getAll(vhost.url, 'flaky.dead')).map((m) => String(m.properties.messageId))).toEqual(['b2']);
  });

  it('lists, replays and publishes while a half-edited queues.yaml has a problem elsewhere, and says so', async () => {
    project = await createProject(`${YAML}  other: { replicas: lots }\n`, { flaky: reportingHandler('ok'), other: reportingHandler('ok') });
    await declareQueue(vhost.url, 'flaky');
    await declareQueue(vhost.url, 'flaky.dead');
    await fillDead(vhost.url, 'flaky.dead', 2);
    const listed = await dlq(project, 'list', 'flaky');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('d1');
    expect(listed.stderr).toContain('warning: the project has 1 problem; going on with what could be read:');
    expect(listed.stderr).toContain('functions.other.replicas');
    const replayed = await dlq(project, 'replay', 'flaky');
    expect(replayed.code).toBe(0);
    expect((await queueInfo(vhost.url, 'flaky')).messageCount).toBe(2);
    const published = await runWarren(['publish', '', 'flaky', '{"n":9}', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(published.code).toBe(0);
    expect((await queueInfo(vhost.url, 'flaky')).messageCount).toBe(3);
    // The function whose own entry is wrong is not guessed at: its problem is the answer.
    const other = await dlq(project, 'list', 'other');
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('functions.other.replicas');
  });

  it('lists, replays and publishes while a function being retired has lost its handler file, and says so', async () => {
    project = await createProject(`${YAML}  retired: {}\n`, { flaky: reportingHandler('ok'), retired: reportingHandler('ok') });
    await rm(join(project.dir, 'functions', 'retired.ts'));
    await declareQueue(vhost.url, 'retired');
    await declareQueue(vhost.url, 'retired.dead');
    await fillDead(vhost.url, 'retired.dead', 2);
    // Its own dead letters too: they need no handler.
    const listed = await dlq(project, 'list', 'retired');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('d1');
    expect(listed.stderr).toContain('warning: the project has 1 problem; going on with what could be read:');
    expect(listed.stderr).toContain('no handler file for function "retired"');
    const replayed = await dlq(project, 'replay', 'retired');
    expect(replayed.code, replayed.stderr).toBe(0);
    expect((await queueInfo(vhost.url, 'retired')).messageCount).toBe(2);
    const published = await runWarren(['publish', '', 'retired', '{"n":9}', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(published.code, published.stderr).toBe(0);
    expect((await queueInfo(vhost.url, 'retired')).messageCount).toBe(3);
  });

  it('names the functions when asked about an unknown one', async () => {
    project = await createProject(YAML, { flaky: reportingHandler('ok') });
    const result = await dlq(project, 'list', 'nope');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no function named nope, and no queue nope.dead on the broker');
    expect(result.stderr).toContain('functions: flaky');
    // Names of Object's own properties are no functions either.
    for (const name of ['constructor', '__proto__', 'toString']) {
      const odd = await dlq(project, 'list', name);
      expect(odd.code, name).toBe(2);
      expect(odd.stderr).toContain(`no function named ${name}, and no queue ${name}.dead on the broker`);
    }
  });
});
