/**
 * `warren dev`'s broker decision: never with AMQP_URL set, never when one answers, otherwise the
 * system's rabbitmq-server, else Docker, and it says so. No broker and no Docker are touched.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerTargetOf, decideDevBroker, ensureDevBroker, isLocalHost, systemDeps, type DevBrokerDeps } from '../../runtime/cli/dev-broker';
import { WarrenError } from '../../runtime/errors';

function fakeDeps(options: { answers?: boolean[]; installed?: string[]; failing?: string[] } = {}) {
  const answers = [...(options.answers ?? [])];
  const calls = { probes: 0, which: [] as string[], runs: [] as string[], said: [] as string[] };
  let clock = 0;
  const deps: DevBrokerDeps = {
    probe: async () => (calls.probes++, answers.length > 1 ? answers.shift()! : (answers[0] ?? false)),
    which: async (cmd) => (calls.which.push(cmd), (options.installed ?? []).includes(cmd)),
    run: async (cmd, args) => {
      const line = [cmd, ...args].join(' ');
      calls.runs.push(line);
      if ((options.failing ?? []).some((f) => line.startsWith(f))) throw new Error(`${line} failed`);
    },
    say: (text) => void calls.said.push(text),
    sleep: async (ms) => void (clock += ms),
    now: () => clock,
  };
  return { deps, calls };
}

const local = { host: '127.0.0.1', port: 5672 };

describe('decideDevBroker', () => {
  const base = { amqpUrlSet: false, local: true, answers: false, hasSystemServer: true, hasDocker: true };
  it('leaves the broker alone when AMQP_URL is set, even with nothing answering', () => {
    expect(decideDevBroker({ ...base, amqpUrlSet: true })).toEqual({ kind: 'leave', why: 'AMQP_URL is set' });
  });
  it('leaves a broker that answers, and one on another machine', () => {
    expect(decideDevBroker({ ...base, answers: true })).toEqual({ kind: 'leave', why: 'a broker answers' });
    expect(decideDevBroker({ ...base, local: false })).toEqual({ kind: 'leave', why: 'the broker is not on this machine' });
  });
  it('prefers the system rabbitmq-server, then Docker', () => {
    expect(decideDevBroker(base).kind).toBe('start-system');
    expect(decideDevBroker({ ...base, hasSystemServer: false }).kind).toBe('start-docker');
    expect(decideDevBroker({ ...base, hasSystemServer: false, hasDocker: false }).kind).toBe('none-available');
  });
});

describe('ensureDevBroker', () => {
  it('with AMQP_URL set, neither probes nor starts anything', async () => {
    const { deps, calls } = fakeDeps({ installed: ['rabbitmq-server', 'docker'] });
    const action = await ensureDevBroker({ AMQP_URL: 'amqp://guest:guest@127.0.0.1:5999' }, local, deps);
    expect(action.kind).toBe('leave');
    expect(calls).toEqual({ probes: 0, which: [], runs: [], said: [] });
  });

  it('starts the system rabbitmq-server when nothing answers, says so, and waits for it', async () => {
    const { deps, calls } = fakeDeps({ answers: [false, false, false, true], installed: ['rabbitmq-server', 'docker'] });
    expect((await ensureDevBroker({}, local, deps)).kind).toBe('start-system');
    expect(calls.runs).toEqual(['rabbitmq-server -detached']);
    expect(calls.said[0]).toMatch(/no broker answers on 127\.0\.0\.1:5672; starting one with `rabbitmq-server -detached`/);
    expect(calls.said[1]).toBe('warren dev: the broker answers on 127.0.0.1:5672');
    expect(calls.probes).toBe(4);
  });

  it('falls back to Docker rabbitmq:3-management (a new container when none exists to restart)', async () => {
    const { deps, calls } = fakeDeps({ answers: [false, true], installed: ['docker'], failing: ['docker start'] });
    expect((await ensureDevBroker({ AMQP_URL: '' }, local, deps)).kind).toBe('start-docker');
    expect(calls.runs).toEqual(['docker start warren-rabbitmq', 'docker run -d --name warren-rabbitmq -p 5672:5672 -p 15672:15672 rabbitmq:3-management']);
    expect(calls.said[0]).toContain('starting one in Docker (rabbitmq:3-management');
  });

  it('says what to do when it can start nothing, or the broker it started never answers', async () => {
    const none = fakeDeps();
    const err = await ensureDevBroker({}, local, none.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WarrenError);
    expect((err as WarrenError).code).toBe('WARREN_E_BROKER_UNREACHABLE');
    expect((err as WarrenError).details.hint).toMatch(/set AMQP_URL/);
    const silent = fakeDeps({ answers: [false], installed: ['rabbitmq-server'] });
    await expect(ensureDevBroker({}, local, silent.deps)).rejects.toThrow(/nothing answers on 127\.0\.0\.1:5672 after 60s/);
  });

  it('never starts one for a broker on another machine', async () => {
    const { deps, calls } = fakeDeps({ installed: ['rabbitmq-server'] });
    expect(await ensureDevBroker({}, brokerTargetOf('amqp://u:p@rabbit.example.com/v'), deps)).toEqual({
      kind: 'leave',
      why: 'the broker is not on this machine',
    });
    expect(calls.probes + calls.runs.length).toBe(0);
  });
});

describe('the real probe', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('sees a listener that answers and starts nothing', async () => {
    server = createServer((socket) => socket.destroy());
    const port = await new Promise<number>((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
    const ran: string[] = [];
    const deps: DevBrokerDeps = { ...systemDeps, which: async () => true, run: async (cmd) => void ran.push(cmd), say: () => undefined };
    expect(await ensureDevBroker({}, { host: '127.0.0.1', port }, deps)).toEqual({ kind: 'leave', why: 'a broker answers' });
    expect(ran).toEqual([]);
  });

  it('sees a closed port as no broker', async () => {
    server = createServer();
    const port = await new Promise<number>((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await systemDeps.probe({ host: '127.0.0.1', port })).toBe(false);
  });
});

describe('targets', () => {
  it('reads host and port from the URL, with AMQP defaults', () => {
    expect(brokerTargetOf('amqp://guest:guest@localhost/v')).toEqual({ host: 'localhost', port: 5672 });
    expect(brokerTargetOf('amqps://h:5999')).toEqual({ host: 'h', port: 5999 });
    expect(brokerTargetOf('amqps://[::1]')).toEqual({ host: '::1', port: 5671 });
    expect([isLocalHost('localhost'), isLocalHost('127.0.0.1'), isLocalHost('::1'), isLocalHost('10.0.0.1')]).toEqual([true, true, true, false]);
  });
});
