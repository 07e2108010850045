/**
 * vitest globalSetup: the broker must answer before any test runs (a local broker in its stock
 * settings gets its management plugin enabled here), and dist/ must exist for tests that start the
 * CLI or a replica worker. What to do is decided by decideBrokerAction (broker-readiness.ts).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decideBrokerAction, isLocalHost } from './broker-readiness';
import { amqpBase, management, managementBase } from '../testkit/management';

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
    await management('GET', '/api/overview');
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const MANAGEMENT_WAIT_MS = 60_000;

/** `rabbitmq-plugins enable` returns before the listener is up: wait until the API answers. */
async function enableManagement(tool: string): Promise<void> {
  process.stderr.write('global-setup: the RabbitMQ management API is off; enabling rabbitmq_management on the local broker\n');
  execFileSync(tool, ['enable', 'rabbitmq_management'], { stdio: 'pipe' });
  const deadline = Date.now() + MANAGEMENT_WAIT_MS;
  while (Date.now() < deadline) {
    if (await managementAnswers()) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`enabled rabbitmq_management, but its API did not answer on ${new URL(managementBase()).host} within ${MANAGEMENT_WAIT_MS / 1000} s`);
}

/**
 * The dashboard's browser tests drive Debian's chromium (no browser download works offline). A
 * machine without it gets it from Debian's packages when the tests run as root with apt-get, as a
 * fresh CI machine does; elsewhere the one line below says what to install.
 */
function ensureChromium(): void {
  const chromium = process.env.WARREN_TEST_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(chromium)) return;
  const apt = onPath('apt-get');
  if (apt === undefined || process.getuid?.() !== 0) {
    throw new Error(`the dashboard tests need Debian's chromium at ${chromium}: \`apt-get install chromium\` (or set WARREN_TEST_CHROMIUM)`);
  }
  process.stderr.write("global-setup: installing chromium from Debian's packages for the dashboard tests\n");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync(apt, ['update', '-qq'], { stdio: 'pipe', env });
  execFileSync(apt, ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'pipe', env });
}

export default async function setup(): Promise<void> {
  // The broker the tests use (WARREN_TEST_AMQP_URL / WARREN_TEST_MANAGEMENT_URL, else the local default).
  const broker = new URL(amqpBase());
  const amqpAnswers = await tcpAnswers(broker.hostname, Number(broker.port || 5672), 3_000);
  const tool = onPath('rabbitmq-plugins');
  const action = decideBrokerAction({
    amqpAnswers,
    managementAnswers: amqpAnswers && (await managementAnswers()),
    // `rabbitmq-plugins` without -n acts on the machine's default node: the one on the default port.
    local: isLocalHost(broker.hostname) && (broker.port === '' || broker.port === '5672') && isLocalHost(new URL(managementBase()).hostname),
    pluginsTool: tool !== undefined,
  });
  if (action.kind === 'fail') throw new Error(action.message);
  if (action.kind === 'enable-management') await enableManagement(tool!);
  ensureChromium();
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
