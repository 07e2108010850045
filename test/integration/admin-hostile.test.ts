/**
 * The admin API of a real runtime under hostile requests: malformed JSON, wrongly typed and
 * out-of-range values, path-like and malformed function names, oversized bodies and headers, wrong
 * methods, and a client that trickles its headers. Always a 4xx with a JSON error body (never a 500,
 * never a stack trace), the function's replica count untouched, and other requests still answered.
 */
import { connect, type Socket } from 'node:net';
import { createServer, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, recordingHandler, recordingQueues, release, runCli, startRuntime, type Project, type Runtime } from './admin-harness';

let vhost: TestVhost | undefined;
let project: Project | undefined;
let runtime: Runtime | undefined;

beforeAll(async () => {
  vhost = await createTestVhost('admin-hostile');
  project = await createProject({ 'queues.yaml': recordingQueues({ echo: { replicas: 2 } }), 'functions/echo.ts': recordingHandler('v1') });
  runtime = await startRuntime(project.dir, vhost.url);
  await runtime.waitReady(30_000);
});

afterAll(async () => {
  const held = [runtime, project, vhost] as const;
  runtime = project = vhost = undefined;
  await release(...held);
});

/** A raw HTTP exchange (fetch would fix up what a hostile client sends as it is). */
function raw(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string | number>; body?: string | Buffer },
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method, path: options.path, headers: options.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function expectJsonError(
  answer: { status: number; headers: Record<string, unknown>; text: string },
  status: number,
): { error: string; code: string; hint?: string } {
  expect(answer.status, answer.text).toBe(status);
  expect(String(answer.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(answer.text) as { error: string; code: string; hint?: string };
  expect(body.code).toMatch(/^WARREN_E_/);
  expect(typeof body.error).toBe('string');
  expect(answer.text).not.toMatch(/\n\s+at /); // no stack trace
  return body;
}

async function desiredReplicas(): Promise<number> {
  const res = await runtime!.admin('/functions/echo');
  return ((await res.json()) as { replicas: { desired: number } }).replicas.desired;
}

describe('admin API under hostile input', () => {
  it('refuses wrongly typed and out-of-range replica counts with a 400, and scales nothing', async () => {
    const port = runtime!.port;
    const bodies = [
      '{"replicas": []}',
      '{"replicas": false}',
      '{"replicas": true}',
      '{"replicas": null}',
      '{"replicas": "3"}',
      '{"replicas": -1}',
      '{"replicas": 1.5}',
      '{"replicas": 1e300}',
      '{"replicas": 257}',
      '{"replicas": {"n": 1}}',
      '{}',
      '[3]',
      '"3"',
      '3',
    ];
    for (const body of bodies) {
      const answer = await raw(port, { method: 'POST', path: '/functions/echo/scale', headers: { 'content-type': 'application/json' }, body });
      const error = expectJsonError(answer, 400);
      expect(error.code, body).toBe('WARREN_E_USAGE');
      expect(error.hint, body).toContain('replicas');
    }
    for (const query of ['?replicas=-1', '?replicas=abc', '?replicas=1.5', '?replicas=', '?replicas=99999999999999999999']) {
      expectJsonError(await raw(port, { method: 'POST', path: `/functions/echo/scale${query}` }), 400);
    }
    expect(await desiredReplicas()).toBe(2);
    expect((await queueInfo(vhost!.url, 'echo')).consumerCount).toBe(2);
    // the same rule for a dead-letter limit
    for (const query of ['?limit=abc', '?limit=0', '?limit=-2', '?limit=1.5'])
      expectJsonError(await raw(port, { method: 'GET', path: `/functions/echo/dead-letters${query}` }), 400);
    for (const body of [
      '{"limit": true}',
      '{"limit": []}',
      '{"limit": "5"}',
      '{"limit": 1e12}',
      '{"search": 5}',
      '{"search": "  "}',
      `{"search": "${'x'.repeat(600)}"}`,
    ]) {
      expectJsonError(
        await raw(port, { method: 'POST', path: '/functions/echo/dead-letters/replay', headers: { 'content-type': 'application/json' }, body }),
        400,
      );
    }
  });

  it('answers malformed JSON with a 400 and an oversized body with a 413', async () => {
    const port = runtime!.port;
    for (const body of ['{"replicas": ', '{replicas: 1}', '\u0000\u0001', Buffer.from([0xff, 0xfe, 0x7b])]) {
      expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/scale', headers: { 'content-type': 'application/json' }, body }), 400);
    }
    const big = JSON.stringify({ replicas: 1, pad: 'x'.repeat(200_000) });
    expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/scale', headers: { 'content-type': 'application/json' }, body: big }), 413);
    // chunked, so no content-length announces it
    const chunked = await new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/functions/echo/scale', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(8_192));
      req.end();
    });
    expectJsonError(chunked, 413);
    expect(await desiredReplicas()).toBe(2);
    // A replay carries a dead letter's edited body, as large as the letter: 200 KB is read (and the
    // letter named is not there), 17 MB is refused.
    const json = { 'content-type': 'application/json' };
    const edited = JSON.stringify({ keys: ['no-such-letter'], body: 'x'.repeat(200_000) });
    const replayed = await raw(port, { method: 'POST', path: '/functions/echo/dead-letters/replay', headers: json, body: edited });
    expect(replayed.status, replayed.text).not.toBe(413);
    expect(replayed.text).toContain('no-such-letter');
    // Announced, not sent: the answer comes before the body, and a 17 MB write into a closed socket fails the client instead.
    const announced = { ...json, 'content-length': 17 * 1024 * 1024 };
    expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/dead-letters/replay', headers: announced, body: '{"keys": [' }), 413);
  });

  it('answers unknown, path-like and malformed function names with a 4xx, never a 500', async () => {
    const port = runtime!.port;
    const cases: Array<[string, number]> = [
      ['/functions/nope/scale', 404],
      ['/functions/..%2F..%2Fetc%2Fpasswd/scale', 404],
      ['/functions/%2e%2e/scale', 404],
      ['/functions/%E0%A4%A/scale', 400],
      ['/functions/%/scale', 400],
      ['/functions/%00/scale', 400],
      [`/functions/${'a'.repeat(300)}/scale`, 400],
      ['/functions/echo%20/scale', 404],
      ['/functions/constructor/scale', 404],
      ['/functions/__proto__/scale', 404],
      ['/functions/toString/scale', 404],
    ];
    for (const [path, status] of cases) {
      const answer = await raw(port, { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: '{"replicas": 1}' });
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      expect(answer.status, path).toBeLessThan(500);
      expectJsonError(answer, status);
    }
    for (const [method, path] of [
      ['GET', '/functions/constructor/dead-letters'],
      ['GET', '/functions/__proto__'],
      ['POST', '/functions/__proto__/deploy'],
      ['POST', '/functions/toString/dead-letters/replay'],
    ] as const) {
      const answer = expectJsonError(await raw(port, { method, path }), 404);
      expect(answer.error, path).toMatch(/^no function named /);
    }
    for (const path of ['/functions/%E0%A4%A', '/functions/%/dead-letters', '/functions/..%2F..']) {
      const answer = await raw(port, { method: 'GET', path });
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      expect(answer.status, path).toBeLessThan(500);
    }
    expect(await desiredReplicas()).toBe(2);
  });

  it('answers a wrong method with a 405 and an Allow header', async () => {
    const port = runtime!.port;
    const scale = await raw(port, { method: 'GET', path: '/functions/echo/scale' });
    expectJsonError(scale, 405);
    expect(scale.headers.allow).toBe('POST');
    const letters = await raw(port, { method: 'PUT', path: '/functions/echo/dead-letters' });
    expectJsonError(letters, 405);
    expect(String(letters.headers.allow).split(', ').sort()).toEqual(['DELETE', 'GET']);
    const health = await raw(port, { method: 'DELETE', path: '/healthz' });
    expectJsonError(health, 405);
    expect(health.headers.allow).toBe('GET');
    // The dashboard's page, its assets and its feed exist too: a POST there is a wrong method, not a missing path.
    for (const path of ['/', '/index.html', '/assets/app.js', '/events']) {
      const page = await raw(port, { method: 'POST', path });
      expectJsonError(page, 405);
      expect(page.headers.allow).toBe('GET, HEAD');
    }
  });

  it('gives every refusal a hint that fits the route: a wrong method, a deploy body that is not JSON, an unknown key, a number past JSON range', async () => {
    const port = runtime!.port;
    const scale = expectJsonError(await raw(port, { method: 'GET', path: '/functions/echo/scale' }), 405);
    expect(scale.hint).toBe('send POST /functions/echo/scale');
    const letters = expectJsonError(await raw(port, { method: 'PUT', path: '/functions/echo/dead-letters' }), 405);
    expect(letters.hint).toMatch(/^send (GET|DELETE) \/functions\/echo\/dead-letters or (GET|DELETE) \/functions\/echo\/dead-letters$/);

    const json = { 'content-type': 'application/json' };
    const deploy = expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/deploy', headers: json, body: 'not json' }), 400);
    expect(deploy.error).toContain('request body is not JSON');
    expect(deploy.hint).not.toContain('replicas');
    const scaleText = expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/scale', headers: json, body: 'three' }), 400);
    expect(scaleText.hint).toContain('{"replicas": 3}');

    const extra = expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/scale', headers: json, body: '{"replicas": 1, "extra": 1}' }), 400);
    expect(extra.error).toBe('unknown key "extra" in the request body');
    expect(extra.hint).toContain('{"replicas": 3}');
    const huge = expectJsonError(await raw(port, { method: 'POST', path: '/functions/echo/scale', headers: json, body: '{"replicas": 1e400}' }), 400);
    expect(huge.error).toBe('replicas must be an integer from 0 to 256, got Infinity: not a finite whole number');
    expect(await desiredReplicas()).toBe(2);
  });

  it('refuses a misspelt option on a replay, a purge or a deploy with a 400, instead of acting on every dead letter', async () => {
    const port = runtime!.port;
    for (let i = 0; i < 3; i++) await publishRaw(vhost!.url, '', 'echo.dead', `{"n":${i}}`, { messageId: `letter-${i}` });
    const json = { 'content-type': 'application/json' };
    const sent = [
      ['POST', '/functions/echo/dead-letters/replay', '{"limt": 1}', '"limt"'],
      ['POST', '/functions/echo/dead-letters/replay', '{"key": ["letter-0"]}', '"key"'],
      ['POST', '/functions/echo/dead-letters/letter-0/replay', '{"bdy": "{}"}', '"bdy"'],
      ['DELETE', '/functions/echo/dead-letters', '{"all": false}', '"all"'],
      ['POST', '/functions/echo/deploy', '{"force": true}', '"force"'],
      ['POST', '/deploy', '{"only": "echo"}', '"only"'],
    ] as const;
    for (const [method, path, body, key] of sent) {
      const refused = expectJsonError(await raw(port, { method, path, headers: { ...json, 'content-length': Buffer.byteLength(body) }, body }), 400);
      expect(refused.error, `${method} ${path}`).toBe(`unknown key ${key} in the request body`);
    }
    expect((await queueInfo(vhost!.url, 'echo.dead')).messageCount).toBe(3);
    // the same requests, spelt right, still work
    const replayed = await raw(port, { method: 'POST', path: '/functions/echo/dead-letters/replay', headers: json, body: '{"limit": 1}' });
    expect(JSON.parse(replayed.text)).toMatchObject({ replayed: 1 });
    const purged = await raw(port, { method: 'DELETE', path: '/functions/echo/dead-letters' });
    expect(JSON.parse(purged.text)).toMatchObject({ purged: 2 });
  });

  it('answers HEAD wherever GET works, and reads //functions as /functions rather than serving the dashboard', async () => {
    const port = runtime!.port;
    for (const path of ['/healthz', '/readyz', '/functions', '/metrics']) {
      const head = await raw(port, { method: 'HEAD', path });
      expect(head.status, path).toBe(200);
      expect(head.text, path).toBe('');
      expect(Number(head.headers['content-length']), path).toBeGreaterThan(0);
    }
    const functions = await raw(port, { method: 'GET', path: '//functions' });
    expect(String(functions.headers['content-type'])).toMatch(/^application\/json/);
    expect(JSON.parse(functions.text)).toHaveProperty('functions');
    const metrics = await raw(port, { method: 'GET', path: '//metrics' });
    expect(metrics.text).toContain('warren_messages_total');
  });

  it('answers headers over 16 KiB and a garbled request line with a JSON 4xx', async () => {
    const port = runtime!.port;
    expectJsonError(await raw(port, { method: 'GET', path: '/healthz', headers: { 'x-big': 'x'.repeat(20_000) } }), 431);
    const garbled = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8').on('data', (c: string) => (text += c));
      socket.on('close', () => resolve(text));
    });
    expect(garbled).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbled).toContain('"code":"WARREN_E_USAGE"');
  });

  it('keeps answering other requests while a client trickles its headers byte by byte, then cuts that client off', async () => {
    const port = runtime!.port;
    const slow: Socket = connect(port, '127.0.0.1');
    let slowAnswer = '';
    slow.setEncoding('utf8').on('data', (c: string) => (slowAnswer += c));
    const slowClosed = new Promise<void>((resolve) => slow.on('close', () => resolve()));
    slow.on('error', () => undefined);
    const request = 'GET /functions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'y'.repeat(1_000);
    let i = 0;
    const trickle = setInterval(() => {
      if (i < request.length && !slow.destroyed) slow.write(request[i++]!);
    }, 20);
    try {
      // meanwhile, every other request is answered at once
      for (let n = 0; n < 20; n++) {
        const res = await runtime!.admin('/healthz');
        expect(res.status).toBe(200);
        await new Promise((r) => setTimeout(r, 50));
      }
      // the trickling client never finished its headers: it is answered 408 and disconnected
      await slowClosed;
      expect(slowAnswer).toMatch(/^HTTP\/1\.1 408 /);
      expect(slowAnswer).toContain('"code":"WARREN_E_USAGE"');
      expect(i).toBeLessThan(request.length);
    } finally {
      clearInterval(trickle);
      slow.destroy();
    }
    expect((await runtime!.admin('/functions')).status).toBe(200);
    expect(runtime!.output()).not.toMatch(/"level":50.*admin request failed/);
  }, 30_000);

  it('the CLI says so, without a stack trace, when something other than Warren answers on the admin port', async () => {
    const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not warren</html>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const port = (other.address() as { port: number }).port;
    try {
      for (const args of [['status'], ['scale', 'echo', '2']]) {
        const cli = await runCli(args, { WARREN_ADMIN_PORT: String(port) });
        expect(cli.code, args.join(' ')).toBe(1);
        expect(cli.stderr, args.join(' ')).toMatch(/something other than a Warren reply.*WARREN_E_ADMIN_UNREACHABLE/s);
        expect(cli.stderr).not.toMatch(/\n\s+at /);
      }
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('the CLI refuses a WARREN_ADMIN_PORT that is no port as bad input (exit 2), as start does, not as a runtime that does not answer', async () => {
    for (const args of [['status'], ['scale', 'echo', '2'], ['deploy', 'echo']]) {
      const cli = await runCli(args, { WARREN_ADMIN_PORT: 'abc' });
      expect(cli.code, args.join(' ')).toBe(2);
      expect(cli.stderr, args.join(' ')).toMatch(/WARREN_ADMIN_PORT must be a port number \(0-65535\), got "abc" \[WARREN_E_ADMIN_ADDRESS\]/);
      expect(cli.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('status, scale and deploy take --dir like every command', async () => {
    const env = runtime!.env;
    const dir = project!.dir;
    const status = await runCli(['status', '--dir', dir], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/echo\s+\S+\s+2\/2/);
    const scale = await runCli(['scale', 'echo', '2', '--dir', dir], env);
    expect(scale.code, scale.stderr).toBe(0);
    expect(scale.stdout).toContain('echo: 2/2 replicas running');
    const deploy = await runCli(['deploy', 'echo', '--dir', dir], env);
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(deploy.stdout).toMatch(/^echo: (unchanged|deployed)/);
    const missing = await runCli(['status', '--dir', `${dir}/nope`], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/project folder .*nope does not exist/);
  }, 60_000);
});
