/**
 * A private RabbitMQ node for chaos tests: its own node name, ports, data and log folders and Erlang
 * cookie (HOME in a temp folder), no plugins, so stopping or restarting it never disturbs the broker
 * the rest of the suite uses. Started with `rabbitmq-server -detached`, driven with `rabbitmqctl -n`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './runtime';

const run = promisify(execFile);

/** The unwrapped scripts: /usr/sbin's wrappers switch to the rabbitmq user and its HOME (and cookie). */
export function script(name: string): string {
  const direct = `/usr/lib/rabbitmq/bin/${name}`;
  return existsSync(direct) ? direct : name;
}

export interface RabbitNode {
  name: string;
  port: number;
  /** amqp://guest:guest@127.0.0.1:<port> (default vhost) */
  url: string;
  /** stop the RabbitMQ application: every connection drops, the Erlang node stays up */
  stopApp(): Promise<void>;
  /** start it again and wait until it accepts connections */
  startApp(): Promise<void>;
  /** stop the node and remove its folder; safe to call twice */
  stop(): Promise<void>;
}

export async function startRabbitNode(): Promise<RabbitNode> {
  const base = await mkdtemp(join(tmpdir(), 'warren-rabbit-'));
  const name = `warren-chaos-${randomBytes(3).toString('hex')}@localhost`;
  const port = await freePort();
  let distPort = await freePort();
  while (distPort === port) distPort = await freePort();
  await Promise.all(['home', 'mnesia', 'log'].map((d) => mkdir(join(base, d))));
  // guest may connect from 127.0.0.1 only by default, which is where the tests are.
  await writeFile(join(base, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\n`);
  await writeFile(join(base, 'enabled_plugins'), '[].\n');
  await writeFile(join(base, 'rabbitmq-env.conf'), '');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(base, 'home'),
    RABBITMQ_NODENAME: name,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: join(base, 'log'),
    RABBITMQ_CONFIG_FILE: join(base, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
    // The system's rabbitmq-env.conf names the main node; this one names nothing.
    RABBITMQ_CONF_ENV_FILE: join(base, 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const ctl = (...args: string[]) => run(script('rabbitmqctl'), ['-n', name, ...args], { env, timeout: 90_000 });

  async function awaitStartup(): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await ctl('await_startup', '--timeout', '30');
        return;
      } catch (err) {
        // Before the node registered with epmd, await_startup fails at once.
        if (Date.now() > deadline) throw new Error(`private RabbitMQ node ${name} did not start (logs in ${base}/log): ${String(err)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  await run(script('rabbitmq-server'), ['-detached'], { env });
  await awaitStartup();
  let stopped = false;
  return {
    name,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    async stopApp() {
      await ctl('stop_app');
    },
    async startApp() {
      await ctl('start_app');
      await awaitStartup();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await ctl('stop');
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    },
  };
}
