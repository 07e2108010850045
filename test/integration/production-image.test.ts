/**
 * Issue: the production image. What the Dockerfile does is reproduced without a Docker engine: the
 * same files in a fresh folder, `npm ci --omit=dev` (which runs `prepare`, the esbuild build of
 * dist/), then functions run from there. If anything Warren needs at run time were a dev dependency,
 * the image would build and then fail at start; this test fails first.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/runtime';

const run = promisify(execFile);
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');

/** The HEALTHCHECK's exec-form command, as Docker would run it. */
function healthcheckCommand(): string[] {
  const json = /^HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile)?.[1];
  if (!json) throw new Error('no `HEALTHCHECK … \\ CMD [...]` in the Dockerfile');
  return JSON.parse(json) as string[];
}

describe('the Dockerfile', () => {
  it('builds in two stages on the official Node 20 image, installing production dependencies only', () => {
    const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const image of stages) expect(image).toMatch(/^node:20[-.\w]*$/);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
  });

  it('runs as a non-root user, with node as PID 1 running `warren start`', () => {
    const users = [...dockerfile.matchAll(/^USER (\S+)/gm)].map((m) => m[1]!);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/warren\.js"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["start"\]$/m);
  });

  it('keeps node_modules and dist out of the build context, so `COPY . .` cannot overwrite the built ones', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', 'test']) expect(ignored).toContain(entry);
  });
});

describe('the HEALTHCHECK command', () => {
  let server: Server;
  let port: number;
  let status = 200;
  const seen: Array<{ url: string | undefined; auth: string | undefined }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      if (req.headers.authorization !== 'Bearer s3cret') {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(req.url === '/healthz' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function probe(env: Record<string, string>): Promise<number | null> {
    const [cmd, ...args] = healthcheckCommand();
    expect(cmd).toBe('node');
    return new Promise((resolve) => {
      const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
      child.on('exit', (code) => resolve(code));
    });
  }

  it('GETs /healthz on WARREN_ADMIN_PORT with the bearer token from WARREN_ADMIN_TOKEN: healthy is exit 0', async () => {
    status = 200;
    expect(await probe({ WARREN_ADMIN_PORT: String(port), WARREN_ADMIN_TOKEN: 's3cret' })).toBe(0);
    expect(seen.at(-1)).toEqual({ url: '/healthz', auth: 'Bearer s3cret' });
  });

  it('is unhealthy (exit 1) with a wrong token, a failing /healthz, or nothing listening', async () => {
    status = 200;
    expect(await probe({ WARREN_ADMIN_PORT: String(port), WARREN_ADMIN_TOKEN: 'wrong' })).toBe(1);
    status = 503;
    expect(await probe({ WARREN_ADMIN_PORT: String(port), WARREN_ADMIN_TOKEN: 's3cret' })).toBe(1);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await probe({ WARREN_ADMIN_PORT: String(deadPort) })).toBe(1);
  });
});

describe('an install with --omit=dev, as in the image', () => {
  let dir: string;
  const env = { ...process.env, NODE_ENV: 'production', AMQP_URL: '', WARREN_LOG_LEVEL: 'warn' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-omit-dev-'));
    for (const entry of ['package.json', 'package-lock.json', 'runtime', 'bin']) await cp(join(repoRoot, entry), join(dir, entry), { recursive: true });
    // The user's project, as `COPY . .` puts it next to Warren in the image.
    await mkdir(join(dir, 'functions'));
    await writeFile(
      join(dir, 'functions', 'greet.ts'),
      `import type { Handler } from '../runtime';\n` +
        `const handler: Handler<{ name: string }> = async (message) => ({ greeting: \`hello \${message.name}\` });\n` +
        `export default handler;\n`,
    );
    await writeFile(join(dir, 'queues.yaml'), 'functions:\n  greet: { replicas: 2, timeout: 5s }\n');
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts=false', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      env,
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  }, 300_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const warren = (args: string[]) =>
    run(process.execPath, ['bin/warren.js', ...args], { cwd: dir, env, timeout: 60_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    );

  it('builds dist/ through `prepare` without any dev dependency (no typescript, no vitest)', () => {
    expect(existsSync(join(dir, 'dist', 'cli.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist', 'worker.js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules', 'esbuild'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'vitest'))).toBe(false);
  });

  it('runs a function with `warren invoke` (handler bundled by esbuild at run time)', async () => {
    const result = await warren(['invoke', 'greet', '{"name":"Ada"}']);
    expect(result.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)/);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ greeting: 'hello Ada' });
  });

  it('validates the project with `warren check`', async () => {
    const result = await warren(['check']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/ok: 1 function/);
    expect(result.stdout).toMatch(/greet: queue greet, replicas 2/);
  });

  it('prints Kubernetes manifests with `warren manifests`', async () => {
    const result = await warren(['manifests', '--image', 'example/warren:1']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/kind: Deployment\n[\s\S]*name: warren-greet/);
    expect(result.stdout).toMatch(/kind: ScaledObject/);
  });
});
