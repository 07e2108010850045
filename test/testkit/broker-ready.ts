/**
 * Before a test or bench run: the broker must answer, and its management API too (vhosts of one's
 * own are made through it). A local broker in its stock settings, the plugin off, gets
 * `rabbitmq_management` enabled here. What to do is decided by decideBrokerAction (./broker-readiness.ts).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { decideBrokerAction, isLocalHost } from './broker-readiness';
import { amqpBase, management, managementBase } from './management';

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

export function onPath(command: string): string | undefined {
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
  process.stderr.write('the RabbitMQ management API is off; enabling rabbitmq_management on the local broker\n');
  execFileSync(tool, ['enable', 'rabbitmq_management'], { stdio: 'pipe' });
  const deadline = Date.now() + MANAGEMENT_WAIT_MS;
  while (Date.now() < deadline) {
    if (await managementAnswers()) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`enabled rabbitmq_management, but its API did not answer on ${new URL(managementBase()).host} within ${MANAGEMENT_WAIT_MS / 1000} s`);
}

/** The broker the run uses (WARREN_TEST_AMQP_URL / WARREN_BENCH_AMQP_URL, else the local default), ready or a clear error. */
export async function ensureBroker(): Promise<void> {
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
}
