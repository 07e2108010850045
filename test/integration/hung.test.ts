/**
 * A message that blocks or kills its function's only replica does not starve the function: it waits
 * aside in the retry ladder while the messages behind it are handled, and Warren dead-letters it after
 * `redeliveryLimit` deliveries with its own headers (before the quorum queue's backstop limit would).
 * For an ordered function the order rule wins: the messages behind it wait until it is dead-lettered.
 */
import { describe, expect, it } from 'vitest';
import { createTestVhost, getAll, queueInfo } from '../helpers/broker';
import { createProject, startWarren, waitFor, type RunningWarren } from '../helpers/runtime';
import { collectResults, misbehavingHandler, publishMany, range, heldPerTest } from '../helpers/chaos';

const hold = heldPerTest();

const deathsOf = (w: RunningWarren, fn: string) => w.logs.filter((l) => l.function === fn && String(l.msg).startsWith('replica died'));
const idOf = (content: Buffer) => (JSON.parse(content.toString()) as { id: unknown }).id;

/**
 * What ended the replica, as logged. A handler allocating in a synchronous loop blocks its event loop
 * too, and V8 takes about 3 s of collections before it gives up on a 64 MiB heap: with `timeout: 1s`
 * the watchdog (1 s + 2 s) often ends it first. Either way the replica is ended and the message counted.
 */
const REASONS: Record<string, RegExp> = {
  spin: /event loop blocked/,
  exit: /thread exited with code 1/,
  oom: /out of memory|event loop blocked/,
};

describe('a message that blocks or kills the only replica of its function', () => {
  it('busy-loop, process.exit, out of memory: each waits aside while the 50 messages behind it are handled, then is dead-lettered after the limit', async () => {
    const vhost = hold('vhost', await createTestVhost('hung'));
    const kinds = ['spin', 'exit', 'oom'] as const;
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
${kinds.map((k) => `  ${k}: { replicas: 1, timeout: 1s, redeliveryLimit: 2, memory: 64MiB }`).join('\n')}
`,
        Object.fromEntries(kinds.map((k) => [k, misbehavingHandler])),
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const v = vhost;
    const c = collector;
    const w = warren;

    await Promise.all(kinds.map((kill) => publishMany(v.url, kill, [{ id: 'poison', kill }, ...range(50).map((id) => ({ id }))])));
    // The good messages do not wait for the poison to be dead-lettered: all handled within ~10 s of it
    // on a quiet machine (the bound leaves room for a loaded one), and before its dead letter.
    await Promise.all(
      kinds.map(async (kind) => {
        await waitFor(() => c.idsOf(kind).size === 50, 20_000, 50);
        expect((await queueInfo(v.url, `${kind}.dead`)).messageCount, kind).toBe(0);
      }),
    );
    for (const kind of kinds)
      expect(
        w.logs.some((l) => l.function === kind && String(l.msg).startsWith('a message handed back by the broker')),
        kind,
      ).toBe(true);

    for (const kind of kinds) {
      const dead = await waitFor(
        async () => ((await queueInfo(v.url, `${kind}.dead`)).messageCount === 1 ? getAll(v.url, `${kind}.dead`) : undefined),
        40_000,
        200,
      );
      expect(
        dead.map((m) => idOf(m.content)),
        kind,
      ).toEqual(['poison']);
      // Dead-lettered by Warren, not by the broker's backstop limit: its headers say what happened.
      const headers = dead[0]!.properties.headers as Record<string, unknown>;
      // redeliveryLimit 2: the handler ran three times (ctx.attempt 1, 2, 3), and the dead letter says so.
      expect(headers, kind).toMatchObject({ 'x-warren-function': kind, 'x-warren-reason': 'delivery-limit', 'x-warren-attempts': 3 });
      expect(String(headers['x-warren-error']), kind).toContain('delivered 3 times without being settled');
      expect(String(headers['x-warren-last-death']), kind).toMatch(REASONS[kind]!);
      expect(String(headers['x-warren-error']), kind).toMatch(REASONS[kind]!);
      expect(headers['x-death'], kind).toBeUndefined();
      // redeliveryLimit 2: it took three replicas with it, each for the reason named.
      const reasons = deathsOf(w, kind).map((l) => String(l.reason));
      expect(reasons, kind).toHaveLength(3);
      for (const reason of reasons) expect(reason, kind).toMatch(REASONS[kind]!);
      expect(c.of(kind), kind).toHaveLength(50);
    }
    for (const kind of kinds) await waitFor(async () => (await queueInfo(v.url, kind)).consumerCount === 1, 20_000, 100);
  });

  it('prefetch 10, 2 replicas: the messages delivered beside a spinning one are never dead-lettered with it', async () => {
    const vhost = hold('vhost', await createTestVhost('hung-prefetch'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  busy: { replicas: 2, prefetch: 10, timeout: 1s, redeliveryLimit: 2, retry: { attempts: 2, delay: 200ms } }
`,
        { busy: misbehavingHandler },
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const v = vhost;
    const c = collector;

    // The ones that came with it wait aside 200 ms and come back while it runs alone for its second
    // and third time, blocking its replica about 2 s each: they must not land in that replica.
    await publishMany(v.url, 'busy', [{ id: 'poison', kill: 'spin' }, ...range(60).map((id) => ({ id, ms: 20 }))]);
    const dead = await waitFor(
      async () =>
        (await queueInfo(v.url, 'busy.dead')).messageCount >= 1 && (await queueInfo(v.url, 'busy')).messageCount === 0 ? getAll(v.url, 'busy.dead') : undefined,
      60_000,
      200,
    );
    await waitFor(() => c.idsOf('busy').size === 60, 20_000, 50);
    expect(dead.map((m) => idOf(m.content))).toEqual(['poison']);
    expect(deathsOf(warren, 'busy')).toHaveLength(3);
    // Each good one handled once: none was in a blocked replica when the watchdog ended it.
    expect(c.of('busy')).toHaveLength(60);
  });

  it('ordered: the order rule wins, the messages behind it wait, and Warren (not the broker) dead-letters it', async () => {
    const vhost = hold('vhost', await createTestVhost('hung-ordered'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  stuck: { replicas: 1, timeout: 1s, redeliveryLimit: 1, ordered: true }
`,
        { stuck: misbehavingHandler },
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const v = vhost;
    const c = collector;

    await publishMany(v.url, 'stuck', [{ id: 0 }, { id: 'poison', kill: 'exit' }, ...range(5, 1).map((id) => ({ id }))]);
    await waitFor(() => c.of('stuck').length === 6, 20_000, 50);
    expect(c.of('stuck').map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5]);
    // Nothing overtook the poison: it was dead-lettered before message 1 ran.
    const dead = await getAll(v.url, 'stuck.dead');
    expect(dead).toHaveLength(1);
    const headers = dead[0]!.properties.headers as Record<string, unknown>;
    // Two runs, two deaths: two attempts.
    expect(headers).toMatchObject({ 'x-warren-function': 'stuck', 'x-warren-reason': 'delivery-limit', 'x-warren-attempts': 2 });
    expect(String(headers['x-warren-last-death'])).toContain('thread exited with code 1');
    expect(deathsOf(warren, 'stuck')).toHaveLength(2);
  });
});
