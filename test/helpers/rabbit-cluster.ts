/**
 * A private 3-node RabbitMQ cluster on this machine, for the cluster tests and the cluster bench:
 * its own node names, ports (freePort), data and log folders and one shared Erlang cookie, so killing
 * or restarting its nodes never touches the broker the rest of the suite uses.
 *
 * Formed at boot by classic-config peer discovery (every node lists the three, all start at once),
 * which is seconds faster than `join_cluster` with its stop_app/start_app per node. `startRabbitCluster`
 * resolves only once all three nodes report each other running.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { script } from './rabbit-node';
import { freePort } from './runtime';

const run = promisify(execFile);

export interface ClusterNode {
  /** Erlang node name, e.g. warren-c1-ab12cd@localhost */
  name: string;
  port: number;
  /** amqp://guest:guest@127.0.0.1:<port> (default vhost) */
  url: string;
  /** true between a kill or stop and the next start */
  down: boolean;
  /** `kill -9` the node's Erlang VM: what a crashed machine looks like to its peers and clients */
  kill(): Promise<void>;
  /**
   * Stop RabbitMQ on the node the polite way, as a rolling restart does: its connections are closed
   * with CONNECTION_FORCED and its queue members go down. The Erlang VM stays (`stop_app`), so the
   * start after it takes seconds rather than a VM boot.
   */
  stop(): Promise<void>;
  /** start it again (after kill or stop) and wait until it runs in the cluster */
  start(): Promise<void>;
}

export interface RabbitCluster {
  nodes: [ClusterNode, ClusterNode, ClusterNode];
  /** every node's URL, comma-separated: what AMQP_URL holds for Warren */
  url: string;
  /** the same with a vhost */
  urlFor(vhost: string): string;
  /** rabbitmqctl against a running node */
  ctl(...args: string[]): Promise<string>;
  /** creates a vhost with guest allowed on it */
  addVhost(name: string): Promise<void>;
  /** the node that leads a quorum queue now */
  leaderOf(vhost: string, queue: string): Promise<ClusterNode>;
  /** waits until every node is running and clustered */
  awaitAllRunning(timeoutMs?: number): Promise<void>;
  /** stops every node and removes their folders; safe to call twice */
  stop(): Promise<void>;
}

export async function startRabbitCluster(): Promise<RabbitCluster> {
  const base = await mkdtemp(join(tmpdir(), 'warren-cluster-'));
  const tag = randomBytes(3).toString('hex');
  const names = [1, 2, 3].map((i) => `warren-c${i}-${tag}@localhost`);
  const ports: number[] = [];
  while (ports.length < 6) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  // One HOME for the three: its .erlang.cookie is the cookie they share (and rabbitmqctl's).
  const home = join(base, 'home');
  await mkdir(home);
  await writeFile(join(home, '.erlang.cookie'), randomBytes(16).toString('hex'));
  await chmod(join(home, '.erlang.cookie'), 0o400);
  await writeFile(join(base, 'enabled_plugins'), '[].\n');
  await writeFile(join(base, 'rabbitmq-env.conf'), '');

  const envs = await Promise.all(
    names.map(async (name, i) => {
      const dir = join(base, `n${i + 1}`);
      await Promise.all(['mnesia', 'log'].map((d) => mkdir(join(dir, d), { recursive: true })));
      const conf = [
        `listeners.tcp.default = 127.0.0.1:${ports[i]}`,
        'cluster_formation.peer_discovery_backend = classic_config',
        ...names.map((n, j) => `cluster_formation.classic_config.nodes.${j + 1} = ${n}`),
        // The nodes boot side by side; without a lock they wait a random time before forming: keep it short.
        'cluster_formation.randomized_startup_delay_range.min = 0',
        'cluster_formation.randomized_startup_delay_range.max = 1',
        // A test machine's disk is small and shared: do not block publishers on the default 50 MB limit.
        'disk_free_limit.absolute = 1MB',
      ].join('\n');
      await writeFile(join(dir, 'rabbitmq.conf'), conf + '\n');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        HOME: home,
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_PORT: String(ports[i]),
        RABBITMQ_DIST_PORT: String(ports[i + 3]),
        RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
        RABBITMQ_LOG_BASE: join(dir, 'log'),
        RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
        RABBITMQ_CONF_ENV_FILE: join(base, 'rabbitmq-env.conf'),
        ERL_EPMD_ADDRESS: '127.0.0.1',
        // Two schedulers that never busy-wait: three nodes on a shared 2-core machine would otherwise
        // spin for CPU they do not use (the tests measure Warren, not the broker's idle loops).
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '+S 2:2 +sbwt none +sbwtdcpu none +sbwtdio none',
      };
      return env;
    }),
  );
  const ctlOn = async (i: number, ...args: string[]): Promise<string> =>
    (await run(script('rabbitmqctl'), ['-n', names[i]!, ...args], { env: envs[i], timeout: 90_000 })).stdout;

  async function awaitStartup(i: number): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        await ctlOn(i, 'await_startup', '--timeout', '60');
        return;
      } catch (err) {
        // Before the node registered with epmd, await_startup fails at once.
        if (Date.now() > deadline) throw new Error(`cluster node ${names[i]} did not start (logs in ${base}/n${i + 1}/log): ${String(err)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  }

  const pids: Array<string | null> = [null, null, null];
  async function boot(i: number): Promise<void> {
    await run(script('rabbitmq-server'), ['-detached'], { env: envs[i] });
    await awaitStartup(i);
    pids[i] = (await ctlOn(i, 'eval', 'os:getpid().')).trim().replace(/"/g, '');
  }

  let stopped = false;
  const nodes = names.map((name, i) => {
    const node: ClusterNode = {
      name,
      port: ports[i]!,
      url: `amqp://guest:guest@127.0.0.1:${ports[i]}`,
      down: false,
      async kill() {
        node.down = true;
        const pid = pids[i];
        if (pid) process.kill(Number(pid), 'SIGKILL');
        pids[i] = null;
        // Until the VM is gone its port still answers.
        const deadline = Date.now() + 10_000;
        while (pid && alive(Number(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      },
      async stop() {
        node.down = true;
        await ctlOn(i, 'stop_app');
      },
      async start() {
        const pid = pids[i];
        if (pid && alive(Number(pid))) {
          await ctlOn(i, 'start_app');
          await awaitStartup(i);
        } else await boot(i);
        node.down = false;
        await cluster.awaitAllRunning();
      },
    };
    return node;
  }) as [ClusterNode, ClusterNode, ClusterNode];

  const live = (): number => {
    const i = nodes.findIndex((n) => !n.down);
    if (i < 0) throw new Error('every node of the test cluster is down');
    return i;
  };

  const cluster: RabbitCluster = {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    urlFor: (vhost) => nodes.map((n) => `${n.url}/${encodeURIComponent(vhost)}`).join(','),
    ctl: (...args) => ctlOn(live(), ...args),
    async addVhost(name) {
      await cluster.ctl('add_vhost', name);
      await cluster.ctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*');
    },
    async leaderOf(vhost, queue) {
      const out = await cluster.ctl('list_queues', '-p', vhost, '-q', '--no-table-headers', 'name', 'leader');
      for (const line of out.split('\n')) {
        const [name, leader] = line.trim().split(/\s+/);
        if (name === queue) {
          const node = nodes.find((n) => n.name === leader);
          if (node) return node;
        }
      }
      throw new Error(`no leader found for queue ${queue} in vhost ${vhost}:\n${out}`);
    },
    async awaitAllRunning(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const up = nodes.filter((n) => !n.down);
        try {
          const status = JSON.parse(await ctlOn(nodes.indexOf(up[0]!), 'cluster_status', '--formatter', 'json')) as { running_nodes?: string[] };
          const running = status.running_nodes ?? [];
          if (up.every((n) => running.includes(n.name))) return;
        } catch {
          // a node still booting: ask again
        }
        if (Date.now() > deadline) throw new Error(`the test cluster did not form within ${timeoutMs} ms (logs in ${base})`);
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(
        nodes.map(async (_, i) => {
          if (!pids[i]) return;
          await ctlOn(i, 'stop').catch(() => {
            const pid = pids[i];
            if (pid && alive(Number(pid))) process.kill(Number(pid), 'SIGKILL');
          });
        }),
      );
      await rm(base, { recursive: true, force: true });
    },
  };

  try {
    const t0 = Date.now();
    await Promise.all([0, 1, 2].map(boot));
    const t1 = Date.now();
    await cluster.awaitAllRunning();
    if (process.env.WARREN_TEST_CLUSTER_DEBUG) process.stderr.write(`cluster: nodes up in ${t1 - t0} ms, clustered ${Date.now() - t1} ms later\n`);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
