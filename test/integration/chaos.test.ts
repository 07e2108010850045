/**
 * Issue: isolated replicas that survive crashes and hangs without losing a message. Handlers that
 * exit the process, throw outside their promise, run out of memory, block the event loop or never
 * settle: each poison message reaches `<queue>.dead` after the redelivery limit while every good
 * message arrives and a second function's stream is untouched. A runtime killed with `kill -9`
 * mid-message handles that message after its restart.
 */
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import { createTestVhost, getAll, queueInfo } from '../helpers/broker';
import { createProject, startWarren, waitFor, type RunningWarren } from '../helpers/runtime';
import { collectResults, misbehavingHandler, publishMany, range, heldPerTest } from '../helpers/chaos';

const hold = heldPerTest();

const deaths = (w: RunningWarren, fn: string) => w.logs.filter((l) => l.function === fn && String(l.msg).startsWith('replica died'));

/** Warren dead-letters before the quorum queue's backstop limit: never the broker's bare x-death. */
function expectWarrenDeadLetter(headers: Record<string, unknown>, fn: string, lastDeath: RegExp): void {
  expect(headers['x-death'], fn).toBeUndefined();
  expect(headers, fn).toMatchObject({ 'x-warren-function': fn, 'x-warren-reason': 'delivery-limit', 'x-warren-attempts': expect.any(Number) });
  expect(String(headers['x-warren-last-death']), fn).toMatch(lastDeath);
}

async function deadIds(url: string, queue: string): Promise<unknown[]> {
  return (await getAll(url, queue)).map((m) => (JSON.parse(m.content.toString()) as { id: unknown }).id);
}

/** A vhost of its own and a project whose functions (queues.yaml lines under `functions:`) report to `results`. */
async function chaosProject(vhostPrefix: string, functions: string, handlers: Record<string, string>) {
  const vhost = hold('vhost', await createTestVhost(vhostPrefix));
  const project = hold('project', await createProject(`\nqueues:\n  results: { type: classic }\nfunctions:${functions}`, handlers));
  return { vhost, project };
}

/**
 * `good` and a poison that exits arrive together at `fn`'s first replica: the poison takes good down
 * with it, and both wait aside. Then `next` is published, with its id as message id.
 */
async function goodBesidePoison(url: string, dir: string, fn: string, next: { id: string; kill: string }) {
  let warren = hold('warren', await startWarren(dir, url));
  await warren.stop();
  await publishMany(url, fn, [{ id: 'good' }, { id: 'poison', kill: 'exit' }]);
  const collector = hold('collector', await collectResults(url));
  warren = hold('warren', await startWarren(dir, url));
  const w = warren;
  await waitFor(() => deaths(w, fn).length === 1, 10_000);
  const conn = await amqplib.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(fn, Buffer.from(JSON.stringify(next)), { contentType: 'application/json', messageId: next.id });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
  return { warren: w, collector };
}

describe('replicas that die', () => {
  it('dead-letters a message that exits the process after the limit, while 1,000 good messages and another function all arrive', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-exit',
      `
  crashy: { replicas: 2, redeliveryLimit: 2, timeout: 2s }
  steady: { replicas: 1, prefetch: 10 }
`,
      { crashy: misbehavingHandler, steady: misbehavingHandler },
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));

    const good = range(1_000);
    const crashyBodies: unknown[] = good.slice(0, 500).map((id) => ({ id }));
    crashyBodies.push({ id: 'poison', kill: 'exit' });
    crashyBodies.push(...good.slice(500).map((id) => ({ id })));
    await Promise.all([
      publishMany(vhost.url, 'crashy', crashyBodies),
      publishMany(
        vhost.url,
        'steady',
        range(500).map((id) => ({ id })),
      ),
    ]);

    const c = collector;
    await waitFor(() => c.idsOf('crashy').size === 1_000 && c.idsOf('steady').size === 500, 40_000, 200);
    const dead = await waitFor(
      async () => ((await queueInfo(vhost!.url, 'crashy.dead')).messageCount === 1 ? getAll(vhost!.url, 'crashy.dead') : undefined),
      20_000,
      200,
    );
    expect(dead.map((m) => (JSON.parse(m.content.toString()) as { id: unknown }).id)).toEqual(['poison']);
    expectWarrenDeadLetter(dead[0]!.properties.headers as Record<string, unknown>, 'crashy', /exited with code 1/);
    expect([...c.idsOf('crashy')].sort()).toEqual([...good].sort());
    expect(c.of('crashy').some((r) => r.id === 'poison')).toBe(false);
    // redeliveryLimit 2: the broker hands it out three times, every time a replica dies.
    expect(deaths(warren, 'crashy')).toHaveLength(3);
    // A death a message caused (the replica had messages in hand) is followed by a restart at once,
    // however many came before: the message is charged and runs apart, the function is sound. A
    // backoff that doubled with each death stalled a one-replica function for minutes behind a few poisons.
    const waits = deaths(warren, 'crashy').flatMap((l) => (typeof l.restartInMs === 'number' ? [l.restartInMs] : []));
    expect(waits.length).toBeGreaterThan(0);
    for (const wait of waits) expect(wait).toBe(500);
    expect(deaths(warren, 'steady')).toHaveLength(0);
    expect(c.of('steady')).toHaveLength(500);
    // The last dead replica is restarted.
    const v = vhost;
    await waitFor(async () => (await queueInfo(v.url, 'crashy')).consumerCount === 2, 10_000, 100);
    expect((await queueInfo(vhost.url, 'steady')).consumerCount).toBe(1);
  });

  it("restarts at once a replica whose very first message exits it: the death is the message's, not a crash loop to back off from", async () => {
    const { vhost, project } = await chaosProject('chaos-first', `\n  crashy: { replicas: 1, redeliveryLimit: 2, timeout: 2s }\n`, {
      crashy: misbehavingHandler,
    });
    // Published before the runtime starts: each replica's first and only message is the poison.
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    await warren.stop();
    await publishMany(vhost.url, 'crashy', [{ id: 'poison', kill: 'exit' }]);
    warren = hold('warren', await startWarren(project.dir, vhost.url));
    const w = warren;
    await waitFor(async () => (await queueInfo(vhost.url, 'crashy.dead')).messageCount === 1, 20_000, 200);
    expect(deaths(w, 'crashy').map((l) => l.restartInMs)).toEqual([500, 500, 500]);
    expect(await deadIds(vhost.url, 'crashy.dead')).toEqual(['poison']);
    // What the handler logged just before it exited is written, not lost with its thread: once per run.
    expect(w.logs.filter((l) => l.msg === 'exiting on purpose' && l.id === 'poison')).toHaveLength(3);
  });

  it.each(['quorum', 'classic'])('with prefetch 10 on a %s queue, dead-letters only the poison, not the messages in flight beside it', async (type) => {
    const vhost = hold('vhost', await createTestVhost('chaos-beside'));
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
  crashy: { type: ${type} }
functions:
  crashy: { replicas: 2, prefetch: 10, redeliveryLimit: 2, timeout: 2s, retry: { delay: 100ms } }
`,
        { crashy: misbehavingHandler },
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const bodies: unknown[] = range(300).map((id) => ({ id, ms: 5 }));
    bodies.splice(150, 0, { id: 'poison', kill: 'exit' });
    await publishMany(vhost.url, 'crashy', bodies);
    const c = collector;
    const v = vhost;
    await waitFor(async () => c.idsOf('crashy').size === 300 && (await queueInfo(v.url, 'crashy.dead')).messageCount > 0, 30_000, 200).catch(async (e) => {
      const missing = range(300).filter((i) => !c.idsOf('crashy').has(i));
      console.log('DEBUG missing', missing, 'dead', await deadIds(v.url, 'crashy.dead'), 'q', await queueInfo(v.url, 'crashy'));
      console.log(
        warren!.logs
          .filter((l) => l.level >= 40)
          .map((l) => `${l.time} r${l.replica} ${l.msg} ${l.messageId ?? ''} ${l.reason ?? ''}`)
          .join('\n'),
      );
      throw e;
    });
    await new Promise((r) => setTimeout(r, 500)); // a second copy would show up now
    const letters = await getAll(v.url, 'crashy.dead');
    expect(letters.map((m) => (JSON.parse(m.content.toString()) as { id: unknown }).id)).toEqual(['poison']);
    expect([...c.idsOf('crashy')].sort()).toEqual(range(300).sort());
    // redeliveryLimit 2: the poison kills three replicas, then is dead-lettered. On a quorum queue a
    // copy coming back from the holding queue just as a replica cancels its consumer to run a suspect
    // alone can be charged a delivery it never reached (a known race: the broker checks it out to the
    // consumer being cancelled and takes it back counted), so there it may go after two.
    const died = deaths(warren, 'crashy').length;
    if (type === 'quorum') expect([2, 3]).toContain(died);
    else expect(died).toBe(3);
    // Its dead letter counts the runs it had, as its error's "delivered N times" does (a classic queue's said one fewer).
    // In the race above, the delivery charged without a run counts too: three, after two deaths.
    const headers = letters[0]!.properties.headers ?? {};
    const attempts = headers['x-warren-attempts'];
    if (type === 'quorum') expect([died, 3]).toContain(attempts);
    else expect(attempts).toBe(died);
    expect(String(headers['x-warren-error'])).toContain(`delivered ${String(attempts)} times`);
  });

  it('survives uncaught exceptions, out-of-memory, leaked buffers, a blocked event loop and a handler that never settles, one function each', async () => {
    const vhost = hold('vhost', await createTestVhost('chaos-kinds'));
    const kinds = ['uncaught', 'oom', 'leak', 'spin', 'hang'] as const;
    const project = hold(
      'project',
      await createProject(
        `
queues:
  results: { type: classic }
functions:
  uncaught: { replicas: 2, redeliveryLimit: 1, timeout: 1s }
  # V8 takes 3 s or more to give up on a 64 MiB heap: a longer timeout lets it, most of the time, before the watchdog (timeout + 1 s) ends the allocating loop
  oom: { replicas: 2, redeliveryLimit: 1, timeout: 10s, memory: 64MiB }
  leak: { replicas: 2, redeliveryLimit: 1, timeout: 5s, memory: 64MiB }
  spin: { replicas: 2, redeliveryLimit: 1, timeout: 1s }
  hang: { replicas: 2, timeout: 1s, retry: { attempts: 2, delay: 100ms } }
  steady: { replicas: 1 }
`,
        { ...Object.fromEntries(kinds.map((k) => [k, misbehavingHandler])), steady: misbehavingHandler },
      ),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await Promise.all([
      ...kinds.map((kind) =>
        publishMany(vhost!.url, kind, [...range(20).map((id) => ({ id })), { id: `poison-${kind}`, kill: kind }, ...range(20, 20).map((id) => ({ id }))]),
      ),
      publishMany(
        vhost.url,
        'steady',
        range(200).map((id) => ({ id })),
      ),
    ]);

    const c = collector;
    await waitFor(
      async () => {
        for (const kind of kinds) {
          if (c.idsOf(kind).size < 40) return false;
          if ((await queueInfo(vhost!.url, `${kind}.dead`)).messageCount < 1) return false;
        }
        return c.idsOf('steady').size === 200;
      },
      50_000,
      250,
    );

    for (const kind of kinds) {
      expect([...c.idsOf(kind)].sort(), kind).toEqual(range(40).sort());
      const dead = await getAll(vhost.url, `${kind}.dead`);
      expect(
        dead.map((m) => (JSON.parse(m.content.toString()) as { id: unknown }).id),
        kind,
      ).toEqual([`poison-${kind}`]);
      const headers = dead[0]!.properties.headers as Record<string, unknown>;
      // What killed its replicas is dead-lettered by Warren for its delivery limit, with the last death
      // it saw; a handler that never settles, for its timed-out attempts.
      const lastDeath: Record<string, RegExp> = {
        uncaught: /uncaught Error: uncaught boom/,
        oom: /out of memory|event loop blocked/,
        leak: /over its memory limit/,
        spin: /event loop blocked/,
      };
      if (kind === 'hang') expect(headers['x-warren-reason']).toBe('timeout');
      else expectWarrenDeadLetter(headers, kind, lastDeath[kind]!);
    }
    expect(deaths(warren, 'uncaught').map((l) => l.reason)).toEqual(['uncaught Error: uncaught boom', 'uncaught Error: uncaught boom']);
    // An allocating loop is a blocked loop too: on a loaded machine the watchdog can end it before V8 does.
    expect(deaths(warren, 'oom').every((l) => /out of memory|event loop blocked/.test(String(l.reason)))).toBe(true);
    expect(deaths(warren, 'oom')).toHaveLength(2);
    expect(deaths(warren, 'leak').map((l) => String(l.reason))).toEqual([
      expect.stringContaining('over its memory limit'),
      expect.stringContaining('over its memory limit'),
    ]);
    expect(deaths(warren, 'spin').every((l) => String(l.reason).includes('event loop blocked'))).toBe(true);
    expect(deaths(warren, 'spin')).toHaveLength(2);
    // A handler that ignores ctx.signal: each timed-out attempt counts as failed and its replica is replaced.
    expect(warren.logs.filter((l) => l.function === 'hang' && l.msg === 'replacing replica')).toHaveLength(2);
    expect(deaths(warren, 'steady')).toHaveLength(0);
    expect(c.of('steady')).toHaveLength(200);
  });

  it('keeps a failed message when its retry queue was deleted on the broker, and says to restart rather than to edit queues.yaml', async () => {
    const vhost = hold('vhost', await createTestVhost('chaos-lost-retry'));
    const project = hold(
      'project',
      await createProject(`functions:\n  failing: { timeout: 2s, retry: { attempts: 2, delay: 1s } }\n`, {
        failing: `export default async () => { throw new Error('always'); };\n`,
      }),
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.deleteQueue('failing.retry.1s');
      ch.sendToQueue('failing', Buffer.from('{"n":1}'), { contentType: 'application/json', persistent: true });
      await ch.close();
    } finally {
      await conn.close();
    }
    const held = await waitFor(() => warren.logs.find((l) => l.msg === 'could not settle the message yet; it stays in hand and is tried again'), 10_000, 100);
    const message = String((held.err as { message?: unknown } | undefined)?.message);
    expect(message).toContain('no queue "failing.retry.1s" on the broker');
    expect(message).toContain('restart `warren start` to declare it again');
    expect(message).not.toContain('queues.yaml');
    // SIGTERM: once the grace period (the timeout) is over, the held message goes back to its queue, not lost and not dead-lettered
    expect(await warren.stop()).toBe(0);
    expect(await queueInfo(vhost.url, 'failing')).toEqual({ messageCount: 1, consumerCount: 0 });
    expect((await queueInfo(vhost.url, 'failing.dead')).messageCount).toBe(0);
  });

  it('handles a message after `kill -9` of the whole runtime mid-message', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-kill9',
      `
  slow: { timeout: 60s }
`,
      {
        slow: `
import type { Handler } from 'warren';
const handler: Handler<{ id: string }> = async (m, ctx) => {
  await ctx.publish('', 'results', { fn: 'started', id: m.id, attempt: ctx.attempt });
  if (ctx.attempt === 1) await new Promise((r) => setTimeout(r, 30_000));
  await ctx.publish('', 'results', { fn: 'slow', id: m.id, attempt: ctx.attempt });
};
export default handler;
`,
      },
    );
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await publishMany(vhost.url, 'slow', [{ id: 'precious' }]);
    const c = collector;
    await waitFor(() => c.of('started').length === 1, 10_000);
    warren.child.kill('SIGKILL');
    expect(await warren.exited).toBeNull();

    warren = hold('warren', await startWarren(project.dir, vhost.url));
    const done = await waitFor(() => c.of('slow')[0], 15_000);
    expect(done).toMatchObject({ id: 'precious', attempt: 2 });
    expect(c.of('started').map((r) => r.attempt)).toEqual([1, 2]);
    expect((await queueInfo(vhost.url, 'slow')).messageCount).toBe(0);
  });

  it('runs the 100 messages a `kill -9` took from two busy replicas together again, not one at a time, and dead-letters none', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-kill9-many',
      `
  held: { replicas: 2, prefetch: 50, timeout: 60s }
`,
      {
        held: `
import type { Handler } from 'warren';
const handler: Handler<{ id: number }> = async (m, ctx) => {
  await ctx.publish('', 'results', { fn: 'started', id: m.id, attempt: ctx.attempt });
  if (ctx.attempt === 1) await new Promise((r) => setTimeout(r, 60_000));
  await ctx.publish('', 'results', { fn: 'held', id: m.id, attempt: ctx.attempt });
};
export default handler;
`,
      },
    );
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    const c = collector;
    await publishMany(
      vhost.url,
      'held',
      range(100).map((id) => ({ id })),
    );
    await waitFor(() => c.of('started').length === 100, 20_000);
    warren.child.kill('SIGKILL');
    expect(await warren.exited).toBeNull();

    warren = hold('warren', await startWarren(project.dir, vhost.url));
    const w = warren;
    await waitFor(() => c.idsOf('held').size === 100, 60_000, 100);
    // Each ran once more, on its second delivery: back from waiting aside, all in a few groups.
    expect(c.of('held').map((r) => r.attempt)).toEqual(Array(100).fill(2));
    expect(w.logs.filter((l) => String(l.msg).startsWith('running a message alone'))).toEqual([]);
    const groups = w.logs.filter((l) => /messages together, apart from fresh ones/.test(String(l.msg)));
    expect(groups.length).toBeGreaterThan(0);
    expect(groups.reduce((n, l) => n + Number(l.count), 0)).toBe(100);
    expect((await queueInfo(vhost.url, 'held.dead')).messageCount).toBe(0);
    expect((await queueInfo(vhost.url, 'held')).messageCount).toBe(0);
  });

  it('ends a replica on a promise its handler left to reject, after sending the acks of what it had settled: no message runs twice', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-floating',
      `
  floating: { replicas: 1, prefetch: 10 }
`,
      {
        // Reports, returns, and leaves behind a promise that rejects a moment later, while its ack waits
        // to be coalesced with others (the ack window's 2 ms).
        floating: `
import type { Handler } from 'warren';
const handler: Handler<{ id: string; float?: boolean }> = async (m, ctx) => {
  await ctx.publish('', 'results', { fn: ctx.functionName, id: m.id, attempt: ctx.attempt });
  if (m.float) void new Promise((_, reject) => setTimeout(() => reject(new Error('a write nobody awaited failed')), 0));
};
export default handler;
`,
      },
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await publishMany(vhost.url, 'floating', [{ id: 'floater', float: true }]);
    await waitFor(() => deaths(warren, 'floating').length === 1, 10_000);
    await publishMany(
      vhost.url,
      'floating',
      range(20).map((i) => ({ id: `after-${i}` })),
    );
    const c = collector;
    await waitFor(() => c.idsOf('floating').size === 21, 15_000);
    await new Promise((r) => setTimeout(r, 1_500));
    // The replica died once, of that promise, and the message it came from was settled before: it ran once.
    expect(deaths(warren, 'floating').map((l) => l.reason)).toEqual(['uncaught Error: a write nobody awaited failed']);
    expect(c.of('floating').filter((r) => r.id === 'floater')).toEqual([{ fn: 'floating', id: 'floater', attempt: 1 }]);
    expect(c.of('floating')).toHaveLength(21);
    expect((await queueInfo(vhost.url, 'floating.dead')).messageCount).toBe(0);
  });
});

describe('suspects run apart', () => {
  // A poison back from waiting aside runs alone once the messages running beside it finish; fresh
  // messages that arrived meanwhile go back to the queue rather than wait in the replica it kills.
  it('charges no death to the good messages that arrived while a poison waited to run alone: none of them waits aside', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-behind',
      `
  behind: { replicas: 1, prefetch: 10, redeliveryLimit: 2, retry: { attempts: 3, delay: 1s } }
`,
      { behind: misbehavingHandler },
    );
    const warren = hold('warren', await startWarren(project.dir, vhost.url));
    const collector = hold('collector', await collectResults(vhost.url));
    await publishMany(vhost.url, 'behind', [{ id: 'poison', kill: 'exit' }]);
    await waitFor(() => deaths(warren, 'behind').length === 1, 10_000);
    // A steady stream, 10 every 150 ms, each handled in 150 ms: the poison comes back from waiting
    // aside (at the back of the queue) while they flow.
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createConfirmChannel();
      for (let i = 0; i < 300; i++) {
        ch.sendToQueue('behind', Buffer.from(JSON.stringify({ id: `good-${i}`, ms: 150 })), {
          contentType: 'application/json',
          persistent: true,
          messageId: `good-${i}`,
        });
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 150));
      }
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const c = collector;
    await waitFor(async () => c.idsOf('behind').size === 300 && (await queueInfo(vhost.url, 'behind.dead')).messageCount === 1, 60_000, 200);
    expect(await deadIds(vhost.url, 'behind.dead')).toEqual(['poison']);
    expect(deaths(warren, 'behind').length).toBe(3);
    const waitedAside = warren.logs.filter((l) => String(l.msg).startsWith('a message handed back by the broker') && String(l.messageId).startsWith('good-'));
    console.log(JSON.stringify(warren.logs.filter((l) => l.function === 'behind').map((l) => [l.time, l.msg, l.messageId, l.count])));
    expect(waitedAside.map((l) => l.messageId)).toEqual([]);
    expect(c.of('behind').filter((r) => String(r.id).startsWith('good-'))).toHaveLength(300);
  }, 90_000);

  // A good message waiting to run alone behind a fresh one that crashes had no part in that death.
  it('forgives the death of a replica to the suspect that waited there unstarted: a good message is not dead-lettered for it', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-forgiven',
      `
  late: { replicas: 1, prefetch: 5, redeliveryLimit: 1, retry: { attempts: 2, delay: 1s } }
`,
      {
        late: `
import type { Handler } from 'warren';
const handler: Handler<{ id: string; kill?: string }> = async (m, ctx) => {
  if (m.kill === 'exit') process.exit(1);
  if (m.kill === 'later') {
    setTimeout(() => { throw new Error('late boom'); }, 4_000);
    await new Promise((r) => setTimeout(r, 10_000));
  }
  await ctx.publish('', 'results', { fn: ctx.functionName, id: m.id, attempt: ctx.attempt });
};
export default handler;
`,
      },
    );
    // Running when good comes back to run alone, this one crashes the replica 4 s later, good still waiting.
    const { warren: w, collector } = await goodBesidePoison(vhost.url, project.dir, 'late', { id: 'crasher', kill: 'later' });
    const c = collector;
    await waitFor(async () => (await queueInfo(vhost.url, 'late.dead')).messageCount >= 2, 60_000, 500);
    expect((await deadIds(vhost.url, 'late.dead')).sort()).toEqual(['crasher', 'poison']);
    await waitFor(() => c.idsOf('late').has('good'), 20_000, 200);
    expect(w.logs.some((l) => String(l.msg).startsWith('handed back by a replica that died before it started'))).toBe(true);
  }, 90_000);

  // A fresh message that blocks its replica's event loop: what the broker delivers into that replica
  // meanwhile never reaches a handler, so only the message that blocked it is counted.
  it('forgives the suspects the broker delivered into a replica a fresh message blocked: they never ran there, and a good one is handled', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-blocked',
      `
  spun: { replicas: 1, prefetch: 5, timeout: 2s, redeliveryLimit: 1, retry: { attempts: 2, delay: 1s } }
`,
      { spun: misbehavingHandler },
    );
    // Behind good and the poison, handed back: it blocks the next replica before they are out of its hands.
    const { warren: w, collector } = await goodBesidePoison(vhost.url, project.dir, 'spun', { id: 'spinner', kill: 'spin' });
    const c = collector;
    await waitFor(async () => (await queueInfo(vhost.url, 'spun.dead')).messageCount >= 2, 90_000, 500);
    expect((await deadIds(vhost.url, 'spun.dead')).sort()).toEqual(['poison', 'spinner']);
    await waitFor(() => c.idsOf('spun').has('good'), 30_000, 200);
    expect(deaths(w, 'spun').some((l) => String(l.reason).startsWith('event loop blocked'))).toBe(true);
  }, 150_000);

  // Several poisons in one backlog, each killing its replica another way: only they are dead-lettered,
  // and no good message for the deaths it was held through without running.
  it('dead-letters only the four poisons of a backlog, each after the limit; all 16 good messages are handled', async () => {
    const { vhost, project } = await chaosProject(
      'chaos-poisons',
      `
  poison: { replicas: 1, prefetch: 5, timeout: 2s, redeliveryLimit: 2, memory: 64MiB, retry: { attempts: 3, delay: 200ms, maxDelay: 1s } }
`,
      { poison: misbehavingHandler },
    );
    // The backlog is there before the runtime starts: each poison arrives in a prefetch beside good messages.
    const kinds = ['exit', 'spin', 'oom', 'uncaught'];
    const bodies = kinds.flatMap((kill, k) => [{ id: `poison-${kill}`, kill }, ...range(4).map((i) => ({ id: `ok-${k * 4 + i}` }))]);
    let warren = hold('warren', await startWarren(project.dir, vhost.url));
    await warren.stop();
    await publishMany(vhost.url, 'poison', bodies);
    const collector = hold('collector', await collectResults(vhost.url));
    warren = hold('warren', await startWarren(project.dir, vhost.url));

    await waitFor(async () => (await queueInfo(vhost.url, 'poison.dead')).messageCount >= 4, 150_000, 500);
    expect((await deadIds(vhost.url, 'poison.dead')).sort()).toEqual(kinds.map((k) => `poison-${k}`).sort());
    const c = collector;
    await waitFor(() => c.idsOf('poison').size === 16, 30_000, 200);
    expect([...c.idsOf('poison')].sort()).toEqual(
      range(16)
        .map((i) => `ok-${i}`)
        .sort(),
    );
  }, 200_000);
});
