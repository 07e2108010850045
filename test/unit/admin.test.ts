/** The admin API's pure decisions: where it may listen, who may call it, what readiness and `status` say. */
import { describe, expect, it } from 'vitest';
import { authorized, clientHost, isLoopback, resolveAdminBinding } from '../../runtime/admin/auth';
import { DELAY_QUEUES, depthQueues, describeDelayed, describeFunctions, notReadyReason, type RuntimeView } from '../../runtime/admin/view';
import { errorReply } from '../../runtime/admin/replies';
import { renderStatus } from '../../runtime/cli/status';
import { WarrenError, WarrenErrors } from '../../runtime/errors';
import { emptySnapshot } from '../../runtime/replica-protocol/stats';
import type { FunctionStatus } from '../../runtime/supervisor/supervisor';

describe('resolveAdminBinding', () => {
  it('listens on 127.0.0.1:8080 without a token by default', () => {
    expect(resolveAdminBinding({})).toEqual({ host: '127.0.0.1', port: 8080, token: null });
  });
  it('refuses a non-loopback address without WARREN_ADMIN_TOKEN', () => {
    expect(() => resolveAdminBinding({ WARREN_ADMIN_HOST: '0.0.0.0' })).toThrow(expect.objectContaining({ code: 'WARREN_E_ADMIN_TOKEN' }));
    expect(resolveAdminBinding({ WARREN_ADMIN_HOST: '0.0.0.0', WARREN_ADMIN_TOKEN: 's3cret' }).token).toBe('s3cret');
  });
  it('rejects a port that is not a port', () => {
    expect(() => resolveAdminBinding({ WARREN_ADMIN_PORT: '80a' })).toThrow(expect.objectContaining({ code: 'WARREN_E_ADMIN_ADDRESS' }));
    expect(() => resolveAdminBinding({ WARREN_ADMIN_PORT: '70000' })).toThrow(WarrenError);
  });
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com', '128.0.0.1']) expect(isLoopback(host)).toBe(false);
  });
  it('reaches a wildcard bind through loopback', () => {
    expect(clientHost('0.0.0.0')).toBe('127.0.0.1');
    expect(clientHost('::')).toBe('::1');
    expect(clientHost('10.1.2.3')).toBe('10.1.2.3');
  });
});

describe('authorized', () => {
  it('accepts everything without a token, and only the exact bearer token with one', () => {
    expect(authorized(undefined, null)).toBe(true);
    expect(authorized('Bearer abc', 'abc')).toBe(true);
    expect(authorized('bearer abc', 'abc')).toBe(true);
    expect(authorized(undefined, 'abc')).toBe(false);
    expect(authorized('Bearer abd', 'abc')).toBe(false);
    expect(authorized('Bearer abcd', 'abc')).toBe(false);
    expect(authorized('abc', 'abc')).toBe(false);
    expect(authorized('Basic abc', 'abc')).toBe(false);
  });
});

function fnStatus(name: string, running: number, desired: number, lastError: string | null = null): FunctionStatus {
  return { name, queue: name, version: 'abc123', desired, running, restarts: 0, lastError, stats: emptySnapshot() };
}

describe('notReadyReason', () => {
  it('names the broker first, then the lifecycle, then the functions short of replicas', () => {
    expect(notReadyReason('connecting', 'no broker answers at amqp://x', [])).toContain('no broker answers');
    expect(notReadyReason('idle', null, [])).toContain('building');
    expect(notReadyReason('running', null, [fnStatus('a', 2, 2), fnStatus('b', 1, 3, 'boom')])).toBe('replicas not up: b 1/3 (boom)');
    expect(notReadyReason('running', null, [fnStatus('a', 2, 2)])).toBeNull();
  });

  it('counts a replica that fails over to another node as not consuming', () => {
    const failingOver = {
      ...fnStatus('a', 2, 2),
      connected: 1,
      nodes: [
        { replica: 1, node: 'n1:5672' },
        { replica: 2, node: null },
      ],
    };
    expect(notReadyReason('running', null, [failingOver])).toBe('replicas not up: a 1/2 (reconnecting to the broker)');
    // A reconnect that a person must fix says what to fix.
    const vhostGone = { ...failingOver, reconnectProblem: 'the broker at amqp://guest:***@n1:5672/orders has no vhost "orders" (or the user may not use it)' };
    expect(notReadyReason('running', null, [vhostGone])).toBe(
      'replicas not up: a 1/2 (reconnecting: the broker at amqp://guest:***@n1:5672/orders has no vhost "orders" (or the user may not use it))',
    );
  });
});

describe('errorReply', () => {
  it('answers a build failure 422 with the file and line first, relative to the project', () => {
    const err = new WarrenErrors([
      new WarrenError('WARREN_E_HANDLER_BUILD', 'Unexpected ";"', { file: '/p/functions/a.ts', line: 2, column: 12, hint: 'fix it' }),
    ]);
    const reply = errorReply(err, '/p');
    expect(reply.status).toBe(422);
    expect(reply.body).toMatchObject({ error: 'functions/a.ts:2:12 Unexpected ";"', code: 'WARREN_E_HANDLER_BUILD', hint: 'fix it' });
  });
  it('answers an unexpected error 500 without a stack', () => {
    expect(errorReply(new Error('disk full'))).toEqual({ status: 500, body: { error: 'disk full', code: 'WARREN_E_INTERNAL' } });
  });
});

describe('renderStatus', () => {
  /** A function that handled nothing yet, with no depths known. */
  const idle = (name: string, replicas: RuntimeView['functions'][number]['replicas'], lastError: string | null): RuntimeView['functions'][number] => ({
    name,
    queue: name,
    version: null,
    replicas,
    restarts: 0,
    lastError,
    inFlight: 0,
    handled: 0,
    failed: 0,
    messages: { acked: 0, retried: 0, dead: 0, dropped: 0, redelivered: 0 },
    queueDepth: null,
    deadLetterQueue: null,
    deadLetterDepth: null,
    retryDepth: null,
  });

  it('prints one aligned row per function, `-` for what the broker did not tell, `off` without a dead-letter queue', () => {
    const view: RuntimeView = {
      state: 'running',
      ready: true,
      blockedBy: null,
      functions: [
        {
          name: 'print-message',
          queue: 'my_app',
          version: 'abc123',
          replicas: { desired: 2, running: 2 },
          restarts: 0,
          lastError: null,
          inFlight: 3,
          handled: 1200,
          failed: 4,
          messages: { acked: 1196, retried: 9, dead: 4, dropped: 0, redelivered: 0 },
          queueDepth: 17,
          deadLetterQueue: 'my_app.dead',
          deadLetterDepth: null,
          retryDepth: 2,
        },
        idle('b', { desired: 1, running: 0 }, null),
      ],
    };
    const out = renderStatus(view);
    const failingOver = renderStatus({
      state: 'running',
      ready: false,
      blockedBy: null,
      functions: [{ ...view.functions[0]!, replicas: { desired: 2, running: 2, connected: 1 } }],
    });
    expect(failingOver.split('\n').slice(0, 1)).toEqual([
      'runtime running, not ready: print-message not consuming with every replica (starting, or reconnecting to the broker)',
    ]);
    expect(failingOver).toContain('1/2');
    expect(out.split('\n')).toEqual([
      'runtime running, ready',
      'FUNCTION       VERSION  REPLICAS  IN-FLIGHT  HANDLED  FAILED  QUEUE  RETRYING  DEAD',
      'print-message  abc123        2/2          3     1200       4     17         2     -',
      'b              -             0/1          0        0       0      -         -   off',
      '',
    ]);
  });

  it("names the error that keeps a function from starting, on its first line and cut short; a reconnecting replica's last error is not its cause", () => {
    const load = `throws.ts threw while loading: TypeError: Cannot read properties of undefined (reading 'length')\n    at throws.ts:1:30`;
    const header = (functions: RuntimeView['functions']) => renderStatus({ state: 'running', ready: false, blockedBy: null, functions }).split('\n')[0];
    expect(header([idle('throws', { desired: 1, running: 0, connected: 0 }, load)])).toBe(
      "runtime running, not ready: throws 0/1: throws.ts threw while loading: TypeError: Cannot read properties of undefined (reading 'length')",
    );
    expect(header([idle('big', { desired: 2, running: 1, connected: 1 }, 'x'.repeat(500))])).toBe(`runtime running, not ready: big 1/2: ${'x'.repeat(199)}…`);
    expect(
      header([idle('moving', { desired: 1, running: 1, connected: 0 }, 'replica died'), idle('throws', { desired: 1, running: 0, connected: 0 }, load)]),
    ).toBe(
      "runtime running, not ready: throws 0/1: throws.ts threw while loading: TypeError: Cannot read properties of undefined (reading 'length'); moving not consuming with every replica (starting, or reconnecting to the broker)",
    );
  });

  it('says what keeps a reconnecting replica from the broker when a person must fix it, as /readyz does', () => {
    const gone = 'the broker at amqp://guest:***@n1:5672/orders has no vhost "orders" (or the user may not use it)';
    const reconnecting = { ...idle('orders', { desired: 2, running: 2, connected: 0 }, 'replica died'), reconnectProblem: gone };
    const down = { ...idle('mail', { desired: 1, running: 1, connected: 0 }, null), reconnectProblem: null };
    expect(renderStatus({ state: 'running', ready: false, blockedBy: null, functions: [reconnecting, down] }).split('\n')[0]).toBe(
      `runtime running, not ready: orders 0/2 reconnecting: ${gone}; mail not consuming with every replica (starting, or reconnecting to the broker)`,
    );
  });
});

describe('messages waiting to be tried again, in /functions', () => {
  const retry = (attempts: number) => ({ attempts, backoff: 'exponential', delay: 1_000, maxDelay: 60_000 });
  const config = {
    functions: {
      orders: { name: 'orders', queue: 'orders', deadLetter: true, retry: retry(3), replicas: 1 },
      once: { name: 'once', queue: 'once', deadLetter: false, retry: retry(1), replicas: 1 },
    },
  } as unknown as Parameters<typeof describeFunctions>[0];

  it('are the sum of its retry queues, 0 without retries, unknown while a depth is', () => {
    const status = [fnStatus('orders', 1, 1), fnStatus('once', 1, 1)];
    expect(depthQueues(config, status).sort()).toEqual(['once', 'orders', 'orders.dead', 'orders.retry.1s', 'orders.retry.2s']);
    const depth = (messages: number) => ({ messages, consumers: 0 });
    const depths = new Map([
      ['orders', depth(5)],
      ['orders.dead', depth(1)],
      ['orders.retry.1s', depth(3)],
      ['orders.retry.2s', depth(4)],
      ['once', depth(0)],
    ]);
    const [once, orders] = describeFunctions(config, status, depths);
    expect(orders).toMatchObject({ queueDepth: 5, deadLetterDepth: 1, retryDepth: 7 });
    expect(once).toMatchObject({ retryDepth: 0 });
    const [, unknown] = describeFunctions(config, status, new Map([...depths, ['orders.retry.2s', null]]));
    expect(unknown!.retryDepth).toBeNull();
  });
});

describe('schedules in /functions and `status`', () => {
  const emitter = { schedule: '0 2 * * *', timezone: 'Europe/Paris', emitting: true, next: '2026-11-27T01:00:00.000Z', lastTick: '2026-11-26T01:00:00.000Z' };

  it('shows a scheduled function its next tick and the outcome of the last one its replicas handled', () => {
    const status = { ...fnStatus('nightly', 1, 1), lastTick: { scheduledAt: '2026-11-26T01:00:00.000Z', outcome: 'acked', at: '2026-11-26T01:00:00.120Z' } };
    const [nightly, other] = describeFunctions(undefined, [status, fnStatus('other', 1, 1)], new Map(), { nightly: emitter });
    expect(nightly!.schedule).toEqual({ ...emitter, lastRun: status.lastTick });
    expect(other).not.toHaveProperty('schedule');
    const out = renderStatus({ state: 'running', ready: true, blockedBy: null, functions: [nightly!, other!] });
    expect(out.split('\n').slice(-3)).toEqual([
      'SCHEDULES',
      'nightly  "0 2 * * *" Europe/Paris  next 2026-11-27T01:00:00.000Z  last 2026-11-26T01:00:00.000Z acked  (emitting here)',
      '',
    ]);
  });
});

describe('delayed messages in /functions and `status`', () => {
  it("counts the ladder's queues and what the forwarder holds as waiting, and the undeliverable apart; unknown while a depth is", () => {
    const depth = (messages: number) => ({ messages, consumers: 0 });
    const depths = new Map(DELAY_QUEUES.map((q) => [q, depth(0)]));
    depths.set('warren.delay.3', depth(4));
    depths.set('warren.delay.deliver', depth(1));
    depths.set('warren.delay.undeliverable', depth(2));
    const delayed = describeDelayed(depths, 3);
    expect(delayed).toEqual({ waiting: 8, undeliverable: 2 });
    expect(describeDelayed(new Map([...depths, ['warren.delay.0', null]]), 3).waiting).toBeNull();
    const view: RuntimeView = { state: 'running', ready: true, blockedBy: null, functions: [], delayed };
    expect(renderStatus(view).split('\n').slice(-4)).toEqual([
      'DELAYED',
      '8 waiting for their time in the delay ladder',
      '2 undeliverable in warren.delay.undeliverable: their exchange or queue was gone when due; move them back once the route exists',
      '',
    ]);
    // Nothing delayed: nothing said.
    expect(renderStatus({ ...view, delayed: { waiting: 0, undeliverable: 0 } })).not.toContain('DELAYED');
  });
});
