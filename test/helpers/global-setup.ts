/**
 * vitest globalSetup: the broker must answer before any test runs, and dist/ must exist for tests
 * that start the CLI or a replica worker.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function tcpAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function managementAnswers(): Promise<boolean> {
  try {
    const res = await fetch('http://127.0.0.1:15672/api/overview', {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
      signal: AbortSignal.timeout(3_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

export default async function setup(): Promise<void> {
  if (!(await tcpAnswers('127.0.0.1', 5672, 3_000))) {
    throw new Error('no RabbitMQ answers on 127.0.0.1:5672: start it with `.ci/run` (or `rabbitmq-server -detached`) and run the tests again');
  }
  if (!(await managementAnswers())) {
    throw new Error(
      'the RabbitMQ management API does not answer on http://127.0.0.1:15672 (guest/guest): `.ci/run` enables it ' +
        '(`rabbitmq-plugins enable rabbitmq_management`)',
    );
  }
  const entries = ['runtime/cli/main.ts', 'runtime/replica/thread.ts'];
  if (!entries.every((file) => existsSync(`${root}/${file}`))) return;
  try {
    execFileSync(process.execPath, ['runtime/build.mjs'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    // Not fatal: tests that need dist/ fail on their own with a clearer message than every test failing.
    process.stderr.write(`global-setup: \`node runtime/build.mjs\` failed, dist/ may be stale:\n${stderr}\n`);
  }
}
