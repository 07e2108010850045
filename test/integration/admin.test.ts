/**
 * The admin HTTP API of a real runtime (SPEC §7): health and readiness before and after the broker
 * answers, Prometheus metrics, the functions list and `warren status`, and the token rule off loopback.
 */
import { describe, expect, it } from 'vitest';
import { createTestVhost, managementQueue, publishRaw } from '../helpers/broker';
import { freePort, waitFor } from '../helpers/runtime';
import { collectResults, createProject, publishIds, recordingHandler, recordingQueues, runCli, heldPerTest, startRuntime, type Project } from './admin-harness';

const hold = heldPerTest();

async function echoProject(): Promise<Project> {
  return createProject({
    'queues.yaml': recordingQueues({ echo: { replicas: 2 } }),
    'functions/echo.ts': recordingHandler('v1'),
  });
}

describe('admin API', () => {
  it('answers /healthz and a 503 /readyz naming the broker while no broker answers, and `status` says so', async () => {
    const project = hold('project', await echoProject());
    const deadPort = await freePort();
    const runtime = hold('runtime', await startRuntime(project.dir, `amqp://guest:guest@127.0.0.1:${deadPort}/`));
    let health: Response | null = null;
    for (let i = 0; i < 100 && !health; i++) {
      health = await runtime.admin('/healthz').catch(() => null);
      if (!health) await new Promise((r) => setTimeout(r, 50));
    }
    expect(health?.status).toBe(200);

    // 503 from the first answer; once the first connection attempt failed, the reason names the broker.
    let body = { error: '', code: '' };
    for (let i = 0; i < 100 && !body.error.includes(`127.0.0.1:${deadPort}`); i++) {
      const ready = await runtime.admin('/readyz');
      expect(ready.status).toBe(503);
      body = (await ready.json()) as { error: string; code: string };
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(body.code).toBe('WARREN_E_NOT_READY');
    expect(body.error).toContain(`127.0.0.1:${deadPort}`);

    const status = await runCli(['status'], runtime.env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/not ready/);
    // Built, its replicas booted and waiting for the broker: the version it will run, none consuming.
    expect(status.stdout).toMatch(/^echo\s+[0-9a-f]{12}\s+0\/2\b/m);

    // A function that is neither run nor in functions/ is unknown whatever the state: a 404, not "wait".
    const unknown = await runtime.admin('/functions/nope/deploy', { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('WARREN_E_UNKNOWN_FUNCTION');
    const known = await runtime.admin('/functions/echo/deploy', { method: 'POST' });
    expect(known.status).toBe(503);

    expect(await runtime.stop()).toBe(0);
  });

  it('is ready once every replica consumes; /metrics counts messages by outcome; `status` shows version and counts', async () => {
    const vhost = hold('vhost', await createTestVhost('admin'));
    const project = hold('project', await echoProject());
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();

    const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);
    await publishIds(vhost.url, 'echo', ids);
    expect(await collectResults(vhost.url, ids.length)).toHaveLength(ids.length);

    const metrics = await runtime.admin('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('warren_messages_total{function="echo",outcome="ack"} 20');
    expect(text).toContain('warren_messages_total{function="echo",outcome="dead"} 0');
    expect(text).toContain('warren_replicas_running{function="echo"} 2');
    expect(text).toContain('warren_handler_duration_seconds_count{function="echo"} 20');
    expect(text).toMatch(/warren_handler_duration_seconds_bucket\{function="echo",le="\+Inf"\} 20/);
    expect(text).toContain('warren_queue_messages{function="echo",queue="echo"} 0');
    expect(text).toContain('warren_dead_letter_messages{function="echo",queue="echo.dead"} 0');

    // ?name= gives those metrics alone; a name it does not know is refused with the names it knows.
    const one = await (await runtime.admin('/metrics?name=warren_messages_total&name=warren_replicas_running')).text();
    expect(one).toContain('warren_messages_total{function="echo",outcome="ack"} 20');
    expect(one).toContain('warren_replicas_running{function="echo"} 2');
    expect(one).not.toContain('warren_queue_messages');
    expect(one).not.toContain('warren_handler_duration_seconds');
    const typo = await runtime.admin('/metrics?name=warren_message_total');
    expect(typo.status).toBe(400);
    const refusal = (await typo.json()) as { error: string; hint: string };
    expect(refusal.error).toContain('warren_message_total');
    expect(refusal.hint).toContain('warren_messages_total');

    const list = (await (await runtime.admin('/functions')).json()) as { ready: boolean; functions: Array<{ name: string; version: string; handled: number }> };
    expect(list.ready).toBe(true);
    const echo = list.functions.find((f) => f.name === 'echo')!;
    expect(echo.handled).toBe(20);
    expect(echo.version).toMatch(/^[0-9a-f]{6,}$/);

    const status = await runCli(['status'], runtime.env);
    expect(status.code).toBe(0);
    // FUNCTION VERSION REPLICAS IN-FLIGHT HANDLED FAILED QUEUE RETRYING DEAD
    expect(status.stdout).toMatch(new RegExp(`^echo\\s+${echo.version}\\s+2/2\\s+0\\s+20\\s+0\\s+0\\s+0\\s+0$`, 'm'));

    // A message that is not JSON is dead-lettered: it shows in metrics, status and the dead-letter routes.
    await publishRaw(vhost.url, '', 'echo', 'not json', { messageId: 'broken-1', contentType: 'application/json' });
    let dead = '';
    for (let i = 0; i < 100 && !dead.includes('outcome="dead"} 1'); i++) {
      dead = await (await runtime.admin('/metrics')).text();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(dead).toContain('warren_messages_total{function="echo",outcome="dead"} 1');
    // It never reached the handler: no handler time is counted for it.
    expect(dead).toContain('warren_handler_duration_seconds_count{function="echo"} 20');
    await new Promise((r) => setTimeout(r, 1_100)); // the depth cache lives a second
    expect(await (await runtime.admin('/metrics')).text()).toContain('warren_dead_letter_messages{function="echo",queue="echo.dead"} 1');
    expect((await runCli(['status'], runtime.env)).stdout).toMatch(/^echo\s+\S+\s+2\/2\s+0\s+21\s+1\s+0\s+0\s+1$/m);
    const letters = (await (await runtime.admin('/functions/echo/dead-letters?limit=5')).json()) as { total: number; letters: unknown[] };
    expect(letters.total).toBe(1);
    expect(JSON.stringify(letters.letters[0])).toContain('broken-1');
    const purged = await runtime.admin('/functions/echo/dead-letters', { method: 'DELETE' });
    expect(await purged.json()).toEqual({ queue: 'echo.dead', purged: 1 });

    const unknown = await runtime.admin('/functions/nope/scale', { method: 'POST', body: JSON.stringify({ replicas: 2 }) });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('WARREN_E_UNKNOWN_FUNCTION');
    const bad = await runCli(['scale', 'echo', 'two'], runtime.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('replicas must be an integer');
    // Past the most a runtime runs: the command's own words, not the API's JSON example.
    const many = await runCli(['scale', 'echo', '1000'], runtime.env);
    expect(many.code).toBe(2);
    expect(many.stderr).toContain('replicas must be an integer from 0 to 256, got 1000');
    expect(many.stderr).toContain('warren start --only echo');

    expect(await runtime.stop()).toBe(0);
  });

  it('runs the other functions when a handler file throws while loading; each retry of it is one log line with its file, line and hint', async () => {
    const vhost = hold('vhost', await createTestVhost('admin-load'));
    const project = hold(
      'project',
      await createProject({
        'queues.yaml': recordingQueues({ echo: {}, broken: {} }),
        'functions/echo.ts': recordingHandler('v1'),
        'functions/broken.ts':
          "const settings: { region?: string } = {};\nif (!settings.region) throw new Error('REGION is not set');\nexport default async () => null;\n",
      }),
    );
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    const lines = () =>
      runtime
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; function?: string; problems?: string[]; restartInMs?: number });
    await waitFor(() => lines().some((l) => l.msg === 'function started' && l.function === 'echo'), 30_000);
    await publishIds(vhost.url, 'echo', ['e1']);
    expect(await collectResults(vhost.url, 1)).toEqual([{ id: 'e1', fn: 'echo', v: 'v1' }]);

    const ready = await runtime.admin('/readyz');
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: string }).error).toMatch(/broken 0\/1/);
    // `status` names the cause too, not a broker trouble.
    const status = await runCli(['status'], runtime.env);
    expect(status.stdout.split('\n')[0]).toBe('runtime running, not ready: broken 0/1: broken.ts threw while loading: Error: REGION is not set');

    await waitFor(() => lines().filter((l) => l.msg.startsWith('replica could not start')).length >= 2, 20_000);
    const failures = lines().filter((l) => l.function === 'broken' && l.msg.includes('start'));
    // One line per attempt (the replica's thread no longer logs the same failure a second time).
    expect(failures.every((l) => l.msg.startsWith('replica could not start: broken.ts threw while loading: Error: REGION is not set; trying again in'))).toBe(
      true,
    );
    expect(failures[0]?.problems?.[0]).toMatch(
      /^functions\/broken\.ts:2:\d+ broken\.ts threw while loading: Error: REGION is not set \[WARREN_E_HANDLER_LOAD\]$/,
    );
    expect(failures[0]?.problems?.[1]).toContain('hint: code at the top level of a handler file runs when it loads');
    // Backing off: the waits grow.
    expect(failures[1]!.restartInMs!).toBeGreaterThan(failures[0]!.restartInMs!);
    expect(await runtime.stop()).toBe(0);
  });

  it('counts a message waiting out its retry backoff in /functions (retryDepth) and /metrics, and not once it is dead-lettered', async () => {
    const vhost = hold('vhost', await createTestVhost('admin-retry'));
    const project = hold(
      'project',
      await createProject({
        'queues.yaml': 'functions:\n  flaky: { retry: { attempts: 2, backoff: fixed, delay: 4s } }\n',
        'functions/flaky.ts': "export default async () => { throw new Error('always fails'); };\n",
      }),
    );
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    const flaky = async () =>
      (
        (await (await runtime.admin('/functions')).json()) as { functions: Array<{ name: string; retryDepth: number | null; deadLetterDepth: number | null }> }
      ).functions.find((f) => f.name === 'flaky')!;
    expect((await flaky()).retryDepth).toBe(0);
    await publishRaw(vhost.url, '', 'flaky', '{"n":1}', { contentType: 'application/json' });
    // the first attempt failed: it waits 4 s in flaky.retry.4s (depths are cached for a second)
    await expect.poll(async () => (await flaky()).retryDepth, { timeout: 3_500, interval: 100 }).toBe(1);
    expect(await (await runtime.admin('/metrics')).text()).toContain('warren_retry_messages{function="flaky"} 1');
    // the second attempt fails too: dead-lettered, no longer waiting
    await expect.poll(async () => await flaky(), { timeout: 10_000, interval: 200 }).toMatchObject({ retryDepth: 0, deadLetterDepth: 1 });
  });

  it('dead-letter requests on one queue take turns: reads at once each see every letter, a letter without a message id opens after reads, a purge meanwhile empties the queue', async () => {
    const vhost = hold('vhost', await createTestVhost('admin-dlq-turns'));
    const project = hold('project', await echoProject());
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url));
    await runtime.waitReady();
    // Invalid JSON without a message id (a hand-written producer): dead-lettered at once, named by a hash.
    const count = 40;
    for (let i = 0; i < count; i++) await publishRaw(vhost.url, '', 'echo', `not json ${i}`, { contentType: 'application/json' });
    type Page = { total: number; letters: Array<{ key: string; bodyPreview: string }> };
    const page = async () => (await (await runtime.admin(`/functions/echo/dead-letters?limit=${count}`)).json()) as Page;
    let first: Page = { total: 0, letters: [] };
    for (let i = 0; i < 200 && first.letters.length < count; i++) {
      first = await page();
      if (first.letters.length < count) await new Promise((r) => setTimeout(r, 50));
    }
    expect(first.letters).toHaveLength(count);

    // Three reads at once (three open dashboards): each sees the whole queue, in the same order.
    const pages = await Promise.all([page(), page(), page()]);
    for (const p of pages) {
      expect(p.total).toBe(count);
      expect(p.letters.map((l) => l.key)).toEqual(first.letters.map((l) => l.key));
    }
    // Every read handed the letters back (a quorum queue counts that as a delivery): the key still names them.
    const opened = await runtime.admin(`/functions/echo/dead-letters/${encodeURIComponent(first.letters[7]!.key)}`);
    expect(opened.status).toBe(200);
    expect(JSON.stringify(await opened.json())).toContain(first.letters[7]!.bodyPreview);
    // The same by ?id= (the dashboard's way, which any id survives); an id no letter carries is a 404.
    const byQuery = await runtime.admin(`/functions/echo/dead-letters?id=${encodeURIComponent(first.letters[7]!.key)}`);
    expect(((await byQuery.json()) as { letter: { key: string } }).letter.key).toBe(first.letters[7]!.key);
    for (const path of ['/functions/echo/dead-letters?id=no-such-id', '/functions/echo/dead-letters/no-such-id']) {
      const missing = await runtime.admin(path);
      expect(missing.status, path).toBe(404);
      expect(((await missing.json()) as { code: string }).code).toBe('WARREN_E_DEAD_LETTER_NOT_FOUND');
    }

    // A purge sent while reads hold the letters waits for them, then empties the queue.
    const [, purged] = await Promise.all([page(), runtime.admin('/functions/echo/dead-letters', { method: 'DELETE' }), page()]);
    expect(await purged.json()).toEqual({ queue: 'echo.dead', purged: count });
    // The runtime's log says what a person changed (the dashboard's buttons come here).
    await waitFor(() => runtime.output().includes(`purged ${count} dead letters of echo.dead`), 2_000);
    let after = await page();
    for (let i = 0; i < 40 && after.total > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = await page();
    }
    expect(after.total).toBe(0);
    expect(await runtime.stop()).toBe(0);
  });

  it('refuses to listen on 0.0.0.0 without WARREN_ADMIN_TOKEN (exit 2, a message that says what to do), having declared nothing', async () => {
    const vhost = hold('vhost', await createTestVhost('admin-refused'));
    const project = hold('project', await echoProject());
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url, { WARREN_ADMIN_HOST: '0.0.0.0' }));
    expect(await runtime.exited).toBe(2);
    expect(runtime.output()).toContain('WARREN_E_ADMIN_TOKEN');
    expect(runtime.output()).toContain('set WARREN_ADMIN_TOKEN');
    // A refused start changes nothing on the broker (the topology was declared beside the refusal).
    expect(runtime.output()).not.toContain('topology declared');
    expect(await managementQueue(vhost.name, 'echo')).toBeUndefined();
    expect(await managementQueue(vhost.name, 'results')).toBeUndefined();
  });

  it('on 0.0.0.0 with a token, answers 401 without it and 200 with it; the CLI sends it', async () => {
    const vhost = hold('vhost', await createTestVhost('admin-token'));
    const project = hold('project', await echoProject());
    const token = 'a-long-random-secret-for-the-test';
    const runtime = hold('runtime', await startRuntime(project.dir, vhost.url, { WARREN_ADMIN_HOST: '0.0.0.0', WARREN_ADMIN_TOKEN: token }));
    await runtime.waitReady();

    const anonymous = await runtime.admin('/healthz');
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('WARREN_E_ADMIN_AUTH');
    expect((await runtime.admin('/functions', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await runtime.admin('/healthz', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);

    const withToken = await runCli(['status'], runtime.env);
    expect(withToken.code).toBe(0);
    const withoutToken = await runCli(['status'], { ...runtime.env, WARREN_ADMIN_TOKEN: '' });
    expect(withoutToken.code).toBe(2);
    expect(withoutToken.stderr).toContain('WARREN_E_ADMIN_AUTH');

    expect(await runtime.stop()).toBe(0);
  });

  it('`warren status` with no runtime answering exits 1 and says how to start one', async () => {
    const port = await freePort();
    const result = await runCli(['status'], { WARREN_ADMIN_PORT: String(port) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('WARREN_E_ADMIN_UNREACHABLE');
    expect(result.stderr).toContain('start one with `warren start`');
  });
});
