/**
 * Issue: `docker compose up` runs everything. No Docker engine runs on these machines, so the file is
 * checked the way Compose itself reads it: `docker-compose config` resolves the environment and
 * validates the schema, and the test reads the result.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../helpers/runtime';

const run = promisify(execFile);

function hasDockerCompose(): boolean {
  try {
    execFileSync('docker-compose', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const missing = !hasDockerCompose();
if (missing) process.stderr.write('production-compose.test.ts skipped: no docker-compose binary (apt-get install docker-compose; .ci/run does)\n');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML documents, walked by key
type Obj = Record<string, any>;

async function composeConfig(env: Record<string, string>): Promise<Obj> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RABBITMQ_') && !k.startsWith('WARREN_')));
  const { stdout } = await run('docker-compose', ['-f', join(repoRoot, 'docker-compose.yml'), 'config'], { cwd: repoRoot, env: { ...clean, ...env } });
  return parse(stdout) as Obj;
}

function ports(service: Obj): string[] {
  return (service.ports as Array<string | Obj>).map((p) => (typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published}:${p.target}`));
}

describe.skipIf(missing)('docker-compose.yml (needs the docker-compose binary)', () => {
  it('runs RabbitMQ 3 with the management plugin on 5672 and 15672, credentials from the environment', async () => {
    const config = await composeConfig({ RABBITMQ_DEFAULT_USER: 'alice', RABBITMQ_DEFAULT_PASS: 'wonder1and' });
    const rabbit = config.services.rabbitmq as Obj;
    expect(rabbit.image).toMatch(/^rabbitmq:3[.\d]*-management/);
    expect(rabbit.environment).toMatchObject({ RABBITMQ_DEFAULT_USER: 'alice', RABBITMQ_DEFAULT_PASS: 'wonder1and' });
    const published = ports(rabbit).join(' ');
    expect(published).toMatch(/:5672:5672\b/);
    expect(published).toMatch(/:15672:15672\b/);
    expect(rabbit.healthcheck?.test).toBeDefined();
  });

  it('runs Warren built from the Dockerfile, connected with AMQP_URL and the same credentials, once RabbitMQ is healthy', async () => {
    const config = await composeConfig({ RABBITMQ_DEFAULT_USER: 'alice', RABBITMQ_DEFAULT_PASS: 'wonder1and' });
    const warren = config.services.warren as Obj;
    expect(warren.build.context).toBe(repoRoot.replace(/\/$/, ''));
    expect(warren.environment.AMQP_URL).toBe('amqp://alice:wonder1and@rabbitmq:5672');
    expect(warren.depends_on).toMatchObject({ rabbitmq: { condition: 'service_healthy' } });
    // longer than the default 30 s handler timeout, so `docker compose stop` lets in-flight work finish
    const grace = String(warren.stop_grace_period);
    expect(Number(grace.replace(/s$/, ''))).toBeGreaterThan(30);
  });

  it('works for a newcomer with no environment set (and never with guest, which RabbitMQ refuses from another host)', async () => {
    const config = await composeConfig({});
    const user = config.services.rabbitmq.environment.RABBITMQ_DEFAULT_USER as string;
    expect(user).toBeTruthy();
    expect(user).not.toBe('guest');
    expect(config.services.warren.environment.AMQP_URL).toMatch(new RegExp(`^amqp://${user}:[^@]+@rabbitmq:5672$`));
  });
});
