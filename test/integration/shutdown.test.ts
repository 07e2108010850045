/**
 * Issue: SIGTERM/SIGINT stop consuming, finish in-flight work up to the timeout, requeue the rest and
 * exit 0; nothing is lost, and after a restart every message is handled. A message held for its
 * rate-limit turn has not started: it goes back at once, unstarted and uncounted.
 */
import { describe, expect, it } from 'vitest';
import { createTestVhost, publishRaw, queueInfo } from '../helpers/broker';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { createProject, repoRoot, runWarren, startWarren, waitFor } from '../helpers/runtime';
import { collectResults, misbehavingHandler, publishMany, range, heldPerTest } from '../helpers/chaos';

const hold = heldPerTest();

describe('shutdown', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s during a stream exits 0 and loses nothing', async (signal) => {
    const vhost = hold('vhost', await createTestVhost('shutdown'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  work: { replicas: 2, prefetch: 5, timeout: 5s }
`,
        { work: misbehavingHandler },
      ),
    );
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await publishMany(
      vhost.url,
      'work',
      range(2_000).map((id) => ({ id, ms: 5 })),
    );
    const c = collector;
    await waitFor(() => c.of('work').length >= 200, 15_000, 20);

    const stoppedAt = Date.now();
    expect(await warren.stop(signal)).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    expect(warren.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
    // The line an operator looks for at start names the functions and the Warren that runs them.
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(warren.logs.find((l) => l.msg === 'warren is running')).toMatchObject({ functions: ['work'], warren: version });
    const left = await waitFor(async () => {
      const info = await queueInfo(vhost!.url, 'work');
      if (info.consumerCount !== 0) return undefined;
      // A message handed back by the first replica to stop, then taken by the other, waits aside in
      // the retry ladder (it may be what stopped a replica): still in the broker, not lost.
      const aside = await Promise.all(['work.retry.1s', 'work.retry.2s'].map(async (q) => (await queueInfo(vhost!.url, q)).messageCount));
      return info.messageCount + aside.reduce((a, b) => a + b, 0);
    });
    await new Promise((r) => setTimeout(r, 300)); // the last reports on their way to the collector
    const handled = c.of('work').length;
    // Everything the handlers reported was acked; everything else is still in the queue.
    expect(handled).toBeLessThan(2_000);
    expect(handled + left).toBe(2_000);

    warren = hold('warren', await startWarren(project.dir, vhost.url));
    await waitFor(() => c.idsOf('work').size === 2_000, 30_000, 100);
    expect(c.of('work')).toHaveLength(2_000); // no duplicates on the clean path
  });

  it('requeues a handler that outlives the grace period, exits 0, and runs it again after a restart', async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-late'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  stubborn: { timeout: 2s, retry: { attempts: 3, delay: 100ms } }
`,
        {
          stubborn: `
import type { Handler } from 'warren';
const handler: Handler<{ id: string }> = async (m, ctx) => {
  await ctx.publish('', 'results', { fn: 'started', id: m.id, attempt: ctx.attempt });
  if (ctx.attempt === 1) await new Promise(() => {}); // ignores ctx.signal
  await ctx.publish('', 'results', { fn: 'stubborn', id: m.id, attempt: ctx.attempt });
};
export default handler;
`,
        },
      ),
    );
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await publishMany(vhost.url, 'stubborn', [{ id: 'late' }]);
    const c = collector;
    await waitFor(() => c.of('started').length === 1);
    const stoppedAt = Date.now();
    expect(await warren.stop('SIGTERM')).toBe(0);
    // grace = the function's timeout (2 s), plus closing
    expect(Date.now() - stoppedAt).toBeLessThan(6_000);
    expect(c.of('stubborn')).toHaveLength(0);

    warren = hold('warren', await startWarren(project.dir, vhost.url));
    const done = await waitFor(() => c.of('stubborn')[0], 15_000);
    expect(done.id).toBe('late');
    expect(done.attempt).toBeGreaterThanOrEqual(2);
  });

  it('reads a second signal within 500 ms as the same request to stop, says so, and finishes the work in hand', async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-twice'));
    const project = hold(
      'project',
      await createProject('functions:\n  slow: { timeout: 10s }\n', {
        slow: 'export default async () => { await new Promise((r) => setTimeout(r, 1500)); };\n',
      }),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    await publishRaw(vhost.url, '', 'slow', '{}', { contentType: 'application/json', messageId: 'held' });
    await waitFor(async () => (await queueInfo(vhost.url, 'slow')).messageCount === 0, 10_000, 50);
    warren.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    warren.child.kill('SIGTERM');
    expect(await warren.exited).toBe(0);
    expect(warren.logs.some((l) => l.msg.includes('same request to stop'))).toBe(true);
    expect(warren.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
    expect((await queueInfo(vhost.url, 'slow')).messageCount).toBe(0);
  });

  it('exits at once on a signal that comes while a replica is still loading its handler, not after the grace period', async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-starting'));
    const project = hold(
      'project',
      await createProject('functions:\n  slowstart: { timeout: 30s }\n', {
        slowstart: 'await new Promise((r) => setTimeout(r, 2_000));\nexport default async () => undefined;\n',
      }),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url, { waitReady: false }));
    await warren.waitForLog((l) => l.msg === 'topology declared', 20_000);
    const stoppedAt = Date.now();
    expect(await warren.stop('SIGTERM')).toBe(0);
    // The replica heard the drain while it loaded and ended as soon as it could; a dropped drain was
    // waited out for the grace period (30 s) and 5 s more.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(warren.logs.some((l) => l.msg === 'stopped cleanly')).toBe(true);
    expect(warren.logs.some((l) => l.msg === 'consuming')).toBe(false);
    expect((await queueInfo(vhost.url, 'slowstart')).consumerCount).toBe(0);
  });

  it('ends a replica whose handler blocks its event loop soon after the grace period, not 5 s later, and exits 0 with the message back in the queue', async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-spin'));
    const project = hold(
      'project',
      await createProject('queues:\n  results: { type: classic }\nfunctions:\n  spinner: { timeout: 2s }\n', { spinner: misbehavingHandler }),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    await publishMany(vhost.url, 'spinner', [{ id: 'spin', kill: 'spin' }]);
    await waitFor(async () => (await queueInfo(vhost.url, 'spinner')).messageCount === 0, 10_000, 50);
    const stoppedAt = Date.now();
    expect(await warren.stop('SIGTERM')).toBe(0);
    // grace = the function's timeout (2 s), then a heartbeat silent for a second: ended, not waited for 5 s more
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    const back = await waitFor(async () => {
      const counts = await Promise.all(['spinner', 'spinner.retry.1s'].map(async (q) => (await queueInfo(vhost.url, q)).messageCount));
      return counts.reduce((a, b) => a + b, 0) === 1 || undefined;
    }, 5_000);
    expect(back).toBe(true);
  });

  it('hands back messages waiting for their rate-limit turn at once: nothing starts after the signal, each runs once, as attempt 1, after a restart', async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-rate'));
    const trickle = (rate: string) => `
queues:
  results: { type: classic }
functions:
  trickle: { replicas: 3, prefetch: 5, rateLimit: ${rate} }
`;
    const project = hold(
      'project',
      await createProject(trickle('6/min'), {
        trickle: `
import type { Handler } from 'warren';
const handler: Handler<{ id: number }> = async (m, ctx) => {
  await ctx.publish('', 'results', { fn: ctx.functionName, id: m.id, attempt: ctx.attempt, at: Date.now() });
};
export default handler;
`,
      }),
    );
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const c = collector;
    await publishMany(
      vhost.url,
      'trickle',
      range(10).map((id) => ({ id })),
    );
    // One message started at once; each replica holds another for its turn, 10 s apart at 6/min.
    await waitFor(() => c.of('trickle').length >= 1);
    await new Promise((r) => setTimeout(r, 1_500));

    const stoppedAt = Date.now();
    expect(await warren.stop('SIGTERM')).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 300)); // the last reports on their way to the collector
    const before = c.of('trickle') as unknown as Array<{ id: number; at: number }>;
    expect(before.filter((r) => r.at >= stoppedAt)).toEqual([]);
    expect(warren.logs.some((l) => l.msg === 'handed back messages still waiting for their rate-limit turn, unstarted')).toBe(true);
    // Back in the function's own queue, not waiting aside as suspects in the retry ladder.
    expect((await queueInfo(vhost.url, 'trickle')).messageCount).toBe(10 - before.length);
    expect((await queueInfo(vhost.url, 'trickle.retry.1s')).messageCount).toBe(0);

    await project.write('queues.yaml', trickle('600/min'));
    warren = hold('warren', await startWarren(project.dir, vhost.url));
    await waitFor(() => c.idsOf('trickle').size === 10, 15_000, 100);
    await new Promise((r) => setTimeout(r, 300));
    const all = c.of('trickle');
    expect(all).toHaveLength(10); // each exactly once
    // Never started, so never counted: no attempt was used up by the stop.
    expect(all.map((r) => r.attempt)).toEqual(Array(10).fill(1));
  });
  it("says of a batch function's items waiting for their batch to fill that they wait for the batch: run before exit when the rate limit has a turn, handed back to the queue when it has none", async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-fill'));
    // A minute's window: nothing fills a batch but its size, or the drain.
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  spent: { batch: { size: 5, window: 60s }, rateLimit: 5/min }
  fresh: { batch: { size: 5, window: 60s }, rateLimit: 5/min }
`,
        Object.fromEntries(
          ['spent', 'fresh'].map((fn) => [
            fn,
            `
import type { BatchHandler } from 'warren';
const handler: BatchHandler<{ id: number }> = async (items, ctx) => {
  for (const item of items) await ctx.publish('', 'results', { fn: ctx.functionName, id: item.body.id, at: Date.now() });
};
export default handler;
`,
          ]),
        ),
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const c = hold('collector', await collectResults(vhost.url));
    const send = (fn: string, ids: number[]) =>
      Promise.all(ids.map((id) => publishRaw(vhost.url, '', fn, JSON.stringify({ id }), { contentType: 'application/json', messageId: `${fn}-${id}` })));
    // `spent`: a full batch uses the minute's five starts; two more then wait for their batch to fill.
    await send('spent', [1, 2, 3, 4, 5]);
    await waitFor(() => c.of('spent').length === 5, 10_000);
    await send('spent', [6, 7]);
    // `fresh`: two wait for their batch to fill, with the minute's turns all free.
    await send('fresh', [1, 2]);
    await waitFor(async () => {
      const [spent, fresh] = await Promise.all([queueInfo(vhost.url, 'spent'), queueInfo(vhost.url, 'fresh')]);
      return spent.messageCount === 0 && fresh.messageCount === 0;
    }, 10_000);
    await new Promise((r) => setTimeout(r, 300));

    expect(await warren.stop('SIGTERM')).toBe(0);
    const said = (fn: string) =>
      warren.logs.filter((l) => l['function'] === fn && /handed back|waiting for/.test(l.msg)).map((l) => [l.msg, l['handedBack'] ?? l['items']]);
    expect(said('spent')).toEqual([
      ['handed back to the queue, unstarted, messages that were waiting for their batch to fill: the rate limit had no turn free for them now', 2],
    ]);
    expect(said('fresh')).toEqual([['running the messages that were waiting for their batch to fill now, as one batch, before stopping', 2]]);
    await new Promise((r) => setTimeout(r, 300)); // the last reports on their way to the collector
    // What the lines say is what happened: `spent`'s two are back in its queue, unstarted; `fresh`'s ran.
    expect(
      c
        .of('spent')
        .map((r) => r.id)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5]);
    expect((await queueInfo(vhost.url, 'spent')).messageCount).toBe(2);
    expect([...c.idsOf('fresh')].sort()).toEqual([1, 2]);
    expect((await queueInfo(vhost.url, 'fresh')).messageCount).toBe(0);
  });
  it('exits within a second of "stopped cleanly", with an admin keep-alive connection and a dashboard stream open, a delayed message held and batches waiting for their turn', async () => {
    const vhost = hold('vhost', await createTestVhost('shutdown-exit'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  paced: { batch: { size: 2, window: 100ms }, rateLimit: 2/min }
`,
        { paced: 'export default async () => undefined;\n' },
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    await publishMany(
      vhost.url,
      'paced',
      range(6).map((id) => ({ id })),
    );
    // Held by the delay forwarder (no ladder part): due after the stop.
    expect((await runWarren(['publish', '', 'results', '{}', '--delay', '2900', '--dir', project.dir], { AMQP_URL: vhost.url })).code).toBe(0);
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      request({ host: '127.0.0.1', port: warren.adminPort, path: '/functions', agent }, (res) => res.resume().on('end', resolve))
        .on('error', reject)
        .end(),
    );
    const stream = request({ host: '127.0.0.1', port: warren.adminPort, path: '/events' }, (res) => res.resume());
    stream.on('error', () => undefined).end();
    await new Promise((r) => setTimeout(r, 1_000));

    expect(await warren.stop('SIGTERM')).toBe(0);
    const exitedAt = Date.now();
    agent.destroy();
    stream.destroy();
    const stopped = warren.logs.find((l) => l.msg === 'stopped cleanly');
    expect(stopped).toBeDefined();
    // The last line is the last thing the process does: no timer, socket or thread keeps it alive after.
    console.log(`exit ${exitedAt - stopped!.time} ms after the last line`);
    expect(exitedAt - stopped!.time).toBeLessThan(1_000);
  });
});
