/**
 * `warren dev` brings its own broker when there is none: if AMQP_URL is unset, the configured broker
 * is on this machine and nothing answers there, it starts the system's `rabbitmq-server`, else Docker's
 * `rabbitmq:3-management`, and says so. With AMQP_URL set it never starts anything: the user chose a broker.
 * The decision is pure (decideDevBroker); the I/O comes in through DevBrokerDeps.
 */
import { splitUrls } from '../connection/urls';
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { WarrenError } from '../errors';

export const DOCKER_IMAGE = 'rabbitmq:3-management';
export const DOCKER_CONTAINER = 'warren-rabbitmq';
const WAIT_FOR_BROKER_MS = 60_000;

export interface BrokerTarget {
  host: string;
  port: number;
}

export interface DevBrokerFacts {
  amqpUrlSet: boolean;
  /** the configured broker is on this machine */
  local: boolean;
  answers: boolean;
  hasSystemServer: boolean;
  hasDocker: boolean;
}

export type DevBrokerAction =
  | { kind: 'leave'; why: 'AMQP_URL is set' | 'the broker is not on this machine' | 'a broker answers' }
  | { kind: 'start-system' }
  | { kind: 'start-docker' }
  | { kind: 'none-available' };

/** Pure: what `warren dev` does about the broker. */
export function decideDevBroker(f: DevBrokerFacts): DevBrokerAction {
  if (f.amqpUrlSet) return { kind: 'leave', why: 'AMQP_URL is set' };
  if (!f.local) return { kind: 'leave', why: 'the broker is not on this machine' };
  if (f.answers) return { kind: 'leave', why: 'a broker answers' };
  if (f.hasSystemServer) return { kind: 'start-system' };
  if (f.hasDocker) return { kind: 'start-docker' };
  return { kind: 'none-available' };
}

export interface DevBrokerDeps {
  probe(target: BrokerTarget): Promise<boolean>;
  /** true when `command` is on PATH */
  which(command: string): Promise<boolean>;
  run(command: string, args: readonly string[]): Promise<void>;
  say(text: string): void;
  sleep(ms: number): Promise<void>;
  now(): number;
}

export function brokerTargetOf(url: string): BrokerTarget {
  // A cluster's list: the first node stands for it (dev starts a broker only for a local one).
  const parsed = new URL(splitUrls(url)[0] ?? url);
  const port = parsed.port === '' ? (parsed.protocol === 'amqps:' ? 5671 : 5672) : Number(parsed.port);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port };
}

export function isLocalHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Makes sure a broker answers for `warren dev`; returns what it did. Checks AMQP_URL before anything else. */
export async function ensureDevBroker(env: Record<string, string | undefined>, target: BrokerTarget, deps: DevBrokerDeps): Promise<DevBrokerAction> {
  const amqpUrlSet = (env.AMQP_URL ?? '') !== '';
  const local = isLocalHost(target.host);
  // Probe only when the answer can matter, and never when AMQP_URL is set.
  const answers = !amqpUrlSet && local ? await deps.probe(target) : false;
  const needed = !amqpUrlSet && local && !answers;
  const action = decideDevBroker({
    amqpUrlSet,
    local,
    answers,
    hasSystemServer: needed ? await deps.which('rabbitmq-server') : false,
    hasDocker: needed ? await deps.which('docker') : false,
  });
  const where = `${target.host}:${target.port}`;
  switch (action.kind) {
    case 'leave':
      return action;
    case 'none-available':
      throw new WarrenError('WARREN_E_BROKER_UNREACHABLE', `no broker answers on ${where}, and neither rabbitmq-server nor docker is installed to start one`, {
        hint: 'install RabbitMQ (or Docker), start a broker yourself, or set AMQP_URL to a running one',
      });
    case 'start-system':
      deps.say(
        `warren dev: no broker answers on ${where}; starting one with \`rabbitmq-server -detached\` (it keeps running after warren stops; stop it with \`rabbitmqctl stop\`)`,
      );
      await deps.run('rabbitmq-server', ['-detached']);
      break;
    case 'start-docker':
      deps.say(
        `warren dev: no broker answers on ${where}; starting one in Docker (${DOCKER_IMAGE}, container ${DOCKER_CONTAINER}, ` +
          `management UI on http://localhost:15672; stop it with \`docker stop ${DOCKER_CONTAINER}\`)`,
      );
      // An earlier `warren dev` may have left the container stopped: start it again rather than clash on the name.
      await deps
        .run('docker', ['start', DOCKER_CONTAINER])
        .catch(() => deps.run('docker', ['run', '-d', '--name', DOCKER_CONTAINER, '-p', `${target.port}:5672`, '-p', '15672:15672', DOCKER_IMAGE]));
      break;
  }
  await waitForBroker(target, deps);
  deps.say(`warren dev: the broker answers on ${where}`);
  return action;
}

async function waitForBroker(target: BrokerTarget, deps: DevBrokerDeps): Promise<void> {
  const deadline = deps.now() + WAIT_FOR_BROKER_MS;
  while (!(await deps.probe(target))) {
    if (deps.now() > deadline) {
      throw new WarrenError(
        'WARREN_E_BROKER_UNREACHABLE',
        `started a broker, but nothing answers on ${target.host}:${target.port} after ${WAIT_FOR_BROKER_MS / 1000}s`,
        {
          hint: "look at the broker's own logs (`docker logs warren-rabbitmq`, or RabbitMQ's log folder), or set AMQP_URL to a running broker",
        },
      );
    }
    await deps.sleep(500);
  }
}

/** The real I/O. */
export const systemDeps: DevBrokerDeps = {
  probe: ({ host, port }) =>
    new Promise((resolve) => {
      const socket = connect({ host, port });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(1_000, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    }),
  async which(command) {
    for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
      const ok = await access(join(dir, command), constants.X_OK).then(
        () => true,
        () => false,
      );
      if (ok) return true;
    }
    return false;
  },
  async run(command, args) {
    await promisify(execFile)(command, [...args]);
  },
  say: (text) => void process.stderr.write(text + '\n'),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
};
