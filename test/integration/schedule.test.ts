/**
 * Scheduled functions across instances: one function scheduled every second runs in two `warren
 * start` processes with two replicas each. Every tick must run exactly once, also after the instance
 * that emits the ticks is killed with SIGKILL. The handler reports each run to a `seen` queue.
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';
import { liveFrames } from './dashboard-helpers';

const queuesYaml = `
queues:
  seen: { type: classic }
functions:
  tick:
    schedule: "* * * * * *"
    replicas: 2
`;

const tick = `
import type { Handler } from 'warren';
const handler: Handler<{ scheduledAt: string }> = async (message, ctx) => {
  await ctx.publish('', 'seen', { scheduledAt: message.scheduledAt, pid: process.pid, messageId: ctx.messageId });
};
export default handler;
`;

interface Seen {
  scheduledAt: string;
  pid: number;
  messageId: string;
  at: number;
}

interface ScheduleView {
  schedule: string;
  emitting: boolean;
  next: string | null;
  lastTick: string | null;
  lastRun: { scheduledAt: string; outcome: string } | null;
}

async function scheduleOf(w: RunningWarren, name = 'tick'): Promise<ScheduleView> {
  const res = await fetch(`http://127.0.0.1:${w.adminPort}/functions`);
  const body = (await res.json()) as { functions: Array<{ name: string; schedule?: ScheduleView }> };
  return body.functions.find((f) => f.name === name)!.schedule!;
}

describe('a scheduled function in two instances', () => {
  let vhost: TestVhost;
  let project: Project;
  let instances: RunningWarren[] = [];
  let consumer: ChannelModel;
  const seen: Seen[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost('schedule');
    project = await createProject(queuesYaml, { tick });
    instances = await Promise.all([startWarren(project.dir, vhost.url, { timeoutMs: 60_000 }), startWarren(project.dir, vhost.url, { timeoutMs: 60_000 })]);
    consumer = await amqplib.connect(vhost.url);
    const channel = await consumer.createChannel();
    await channel.consume('seen', (m) => m && seen.push({ ...(JSON.parse(m.content.toString()) as Omit<Seen, 'at'>), at: Date.now() }), { noAck: true });
  });

  afterAll(async () => {
    await consumer?.close();
    const codes = await Promise.all(instances.map((w) => w.stop()));
    await project?.remove();
    await vhost?.cleanup();
    expect(codes.filter((c) => c !== null && c !== 0)).toEqual([]);
  });

  it('runs every tick exactly once, and keeps doing so after the emitting instance is killed', async () => {
    // ~5 s with both instances running.
    await waitFor(() => seen.length >= 5, 20_000);
    const views = await Promise.all(instances.map((w) => scheduleOf(w)));
    expect(views.filter((v) => v.emitting)).toHaveLength(1);
    const emitter = instances[views.findIndex((v) => v.emitting)]!;
    const survivor = instances.find((w) => w !== emitter)!;
    // Kill half-way between two ticks, so no tick is in the middle of being handled.
    await new Promise((r) => setTimeout(r, 1_500 - (Date.now() % 1_000)));
    const killedAt = Date.now();
    await emitter.stop('SIGKILL');
    instances = [survivor];

    // ~6 s more with one instance.
    await waitFor(() => seen.some((s) => Date.parse(s.scheduledAt) >= killedAt + 5_000), 20_000);
    await new Promise((r) => setTimeout(r, 500));

    const ticks = seen.map((s) => Date.parse(s.scheduledAt)).sort((a, b) => a - b);
    const first = ticks[0]!;
    const last = ticks.at(-1)!;
    const expected = Array.from({ length: (last - first) / 1_000 + 1 }, (_, i) => first + i * 1_000);
    console.log(
      `${ticks.length} ticks from ${new Date(first).toISOString()} to ${new Date(last).toISOString()}, emitter killed at ${new Date(killedAt).toISOString()}`,
    );
    // Exactly once: no tick twice, none missing, on both sides of the kill.
    expect(ticks).toEqual(expected);
    expect(ticks.length).toBeGreaterThanOrEqual(10);
    expect(ticks.filter((t) => t > killedAt).length).toBeGreaterThanOrEqual(5);
    // The same tick always has the same id.
    for (const s of seen) expect(s.messageId).toBe(`warren.schedule:tick:${s.scheduledAt}`);
    // Handled when due, not in a burst afterwards.
    const late = seen.map((s) => s.at - Date.parse(s.scheduledAt)).sort((a, b) => a - b);
    console.log(`run after the tick: median ${late[late.length >> 1]} ms, max ${late.at(-1)} ms`);

    const view = await scheduleOf(survivor);
    expect(view.emitting).toBe(true);
    expect(Date.parse(view.next!)).toBeGreaterThan(last);
    expect(view.lastRun).toMatchObject({ outcome: 'acked' });
  });
});

describe('a scheduled function starting after a long absence', () => {
  it('skips the ticks missed while no runtime ran and logs how many', async () => {
    const vhost = await createTestVhost('schedule-skip');
    const project = await createProject(`functions:\n  hourly: { schedule: "0 * * * *" }\n`, { hourly: 'export default async () => undefined;\n' });
    let warren: RunningWarren | undefined;
    try {
      // The broker's record says the last tick was emitted five hours ago.
      const conn = await amqplib.connect(vhost.url);
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue('hourly.schedule', {
        durable: true,
        arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true, 'x-max-length': 1, 'x-overflow': 'drop-head' },
      });
      const hour = 3_600_000;
      const lastTick = new Date(Math.floor(Date.now() / hour) * hour - 5 * hour);
      ch.sendToQueue('hourly.schedule', Buffer.from(JSON.stringify({ lastTick: lastTick.toISOString() })), { persistent: true });
      await ch.waitForConfirms();
      await conn.close();

      warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
      const line = await warren.waitForLog((l) => /ticks? missed while no runtime ran/.test(l.msg), 20_000);
      // Five whole hours ago, then four more hourly ticks, and the one of this hour unless it is under 30 s old.
      expect([4, 5]).toContain(line['skipped']);
      expect(line.msg).toBe(`skipped ${String(line['skipped'])} ticks missed while no runtime ran`);
      const view = await scheduleOf(warren, 'hourly');
      expect(view.emitting).toBe(true);
      expect(Date.parse(view.next!)).toBeGreaterThan(Date.now());
      // The record now marks where the schedule resumed, which is no tick: the last tick shown is one
      // of the hour's (the one under 30 s old, emitted) or none.
      expect(view.lastTick === null || Date.parse(view.lastTick) % hour === 0, String(view.lastTick)).toBe(true);
    } finally {
      expect(await warren?.stop()).toBe(0);
      await project.remove();
      await vhost.cleanup();
    }
  });
});

describe('a scheduled function starting after a few minutes without a runtime', () => {
  it('emits only the latest missed tick within the catch-up window, and counts the others as skipped', async () => {
    const vhost = await createTestVhost('schedule-catch-up');
    const project = await createProject(`queues:\n  seen: { type: classic }\nfunctions:\n  tick: { schedule: "*/2 * * * * *" }\n`, { tick });
    let warren: RunningWarren | undefined;
    let consumer: ChannelModel | undefined;
    try {
      // The broker's record says the last tick was emitted 4.5 minutes ago.
      consumer = await amqplib.connect(vhost.url);
      const ch = await consumer.createConfirmChannel();
      await ch.assertQueue('tick.schedule', {
        durable: true,
        arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true, 'x-max-length': 1, 'x-overflow': 'drop-head' },
      });
      await ch.assertQueue('seen', { durable: true });
      const lastTick = Math.floor(Date.now() / 2_000) * 2_000 - 270_000;
      ch.sendToQueue('tick.schedule', Buffer.from(JSON.stringify({ lastTick: new Date(lastTick).toISOString() })), { persistent: true });
      await ch.waitForConfirms();
      const ticks: number[] = [];
      await ch.consume('seen', (m) => m && ticks.push(Date.parse((JSON.parse(m.content.toString()) as Seen).scheduledAt)), { noAck: true });

      warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
      const line = await warren.waitForLog((l) => /ticks? missed while no runtime ran/.test(l.msg), 20_000);
      // Two regular ticks after the catch-up.
      await waitFor(() => ticks.length >= 3, 20_000);
      ticks.sort((a, b) => a - b);
      const caughtUp = ticks[0]!;
      // One message for the whole absence: the latest tick due when the emitter took over (a burst
      // would bring ticks up to 30 s old; the next regular tick may be due before the line is logged)...
      expect(ticks.filter((at) => at < Number(line.time) - 10_000)).toEqual([]);
      // ...every tick before it counted as skipped in the log line, and the schedule goes on from it.
      expect(line['skipped']).toBe((caughtUp - lastTick) / 2_000 - 1);
      expect(line.msg).toBe(`skipped ${String(line['skipped'])} ticks missed while no runtime ran`);
      expect(ticks.slice(0, 3)).toEqual([caughtUp, caughtUp + 2_000, caughtUp + 4_000]);
    } finally {
      await consumer?.close();
      expect(await warren?.stop()).toBe(0);
      await project.remove();
      await vhost.cleanup();
    }
  });
});

describe('a schedule changed while the runtime runs', () => {
  it('ticks on the new cron expression after `warren deploy --all`, not the old one', async () => {
    const vhost = await createTestVhost('schedule-change');
    const yearly = `queues:\n  seen: { type: classic }\nfunctions:\n  tick: { schedule: "0 0 1 1 *" }\n`;
    const project = await createProject(yearly, { tick });
    let warren: RunningWarren | undefined;
    let consumer: ChannelModel | undefined;
    try {
      warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
      await waitFor(async () => (await scheduleOf(warren!)).emitting, 5_000);
      expect(await scheduleOf(warren)).toMatchObject({ schedule: '0 0 1 1 *' });
      consumer = await amqplib.connect(vhost.url);
      const ch = await consumer.createChannel();
      const ticks: string[] = [];
      await ch.consume('seen', (m) => m && ticks.push((JSON.parse(m.content.toString()) as Seen).scheduledAt), { noAck: true });

      await project.write('queues.yaml', yearly.replace('0 0 1 1 *', '* * * * * *'));
      const changedAt = Date.now();
      expect((await warren.admin('POST', '/deploy', {})).status).toBe(200);
      expect(await scheduleOf(warren)).toMatchObject({ schedule: '* * * * * *', emitting: true });
      await waitFor(() => ticks.length >= 3, 6_000);
      // Every second from the change on, each tick once: no burst for the seconds before the change.
      const at = ticks.map((t) => Date.parse(t)).sort((a, b) => a - b);
      expect(at[0]).toBeGreaterThan(changedAt - 1_000);
      expect(at.slice(0, 3)).toEqual([at[0], at[0]! + 1_000, at[0]! + 2_000]);
    } finally {
      await consumer?.close();
      expect(await warren?.stop()).toBe(0);
      await project.remove();
      await vhost.cleanup();
    }
  });
});

describe('a schedule removed and added again while the runtime runs', () => {
  it('ticks from the moment it is back, without a tick from before it nor a word of ticks missed', async () => {
    const vhost = await createTestVhost('schedule-readd');
    const every5s = `queues:\n  seen: { type: classic }\nfunctions:\n  tick: { schedule: "*/5 * * * * *" }\n`;
    const project = await createProject(every5s, { tick });
    let warren: RunningWarren | undefined;
    let consumer: ChannelModel | undefined;
    try {
      warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
      consumer = await amqplib.connect(vhost.url);
      const ch = await consumer.createChannel();
      const ticks: string[] = [];
      await ch.consume('seen', (m) => m && ticks.push((JSON.parse(m.content.toString()) as Seen).scheduledAt), { noAck: true });
      // A tick emitted, so the election queue's record holds it, then the schedule removed.
      await waitFor(() => ticks.length >= 1, 10_000);
      await project.write('queues.yaml', every5s.replace(' schedule: "*/5 * * * * *" ', ''));
      expect((await warren.admin('POST', '/deploy', {})).status).toBe(200);
      const removedAt = Date.now();
      // Back a moment after a tick the schedule would have had while it was gone: that tick is not run.
      await waitFor(() => Date.now() - removedAt > 1_500 && Date.now() % 5_000 > 300 && Date.now() % 5_000 < 1_000, 15_000, 20);
      ticks.length = 0;
      await project.write('queues.yaml', every5s);
      const addedAt = Date.now();
      expect((await warren.admin('POST', '/deploy', {})).status).toBe(200);
      await waitFor(() => ticks.length >= 1, 10_000);
      expect(Date.parse(ticks[0]!)).toBeGreaterThan(addedAt);
      expect(warren.logs.filter((l) => l.msg.includes('missed while no runtime ran'))).toEqual([]);
    } finally {
      await consumer?.close();
      expect(await warren?.stop()).toBe(0);
      await project.remove();
      await vhost.cleanup();
    }
  });
});

describe('a scheduled batch function whose every tick fails', () => {
  it('shows each tick dead-lettered, in /functions and in `warren status`, not as emitted', async () => {
    const vhost = await createTestVhost('schedule-batch-dead');
    const project = await createProject(`functions:\n  nightly: { schedule: "* * * * * *", batch: { size: 10, window: 100ms }, retry: { attempts: 1 } }\n`, {
      nightly: "export default async () => { throw new Error('the report failed'); };\n",
    });
    let warren: RunningWarren | undefined;
    try {
      warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
      // Two ticks dead-lettered: the first one's outcome has reached the runtime's view by now.
      await waitFor(async () => (await queueInfo(vhost.url, 'nightly.dead')).messageCount >= 2, 10_000);
      expect((await scheduleOf(warren, 'nightly')).lastRun).toMatchObject({ outcome: 'dead' });
      // The dashboard's card says so too, beside the cron and the next tick.
      const [frame] = await liveFrames(`http://127.0.0.1:${warren.adminPort}`, 1_500);
      expect(frame!.functions.find((f) => f.name === 'nightly')!.setup).toMatchObject({
        batch: { size: 10, windowMs: 100 },
        schedule: { cron: '* * * * * *', timezone: 'UTC', next: expect.any(String), lastRun: { outcome: 'dead' } },
      });
      const status = await runWarren(['status', '--dir', project.dir], warren.env);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/^nightly\s.*\blast \S+ dead\b/m);
      expect(status.stdout).not.toMatch(/\bemitted\b/);
    } finally {
      expect(await warren?.stop()).toBe(0);
      await project.remove();
      await vhost.cleanup();
    }
  });
});

describe('a schedule faster than its handler', () => {
  it('says once that ticks pile up in the queue, and still runs each tick', async () => {
    const vhost = await createTestVhost('schedule-pileup');
    const slow = `
import type { Handler } from 'warren';
const handler: Handler<{ scheduledAt: string }> = async (message, ctx) => {
  await new Promise((r) => setTimeout(r, 2_500));
  await ctx.publish('', 'seen', { scheduledAt: message.scheduledAt });
};
export default handler;
`;
    const project = await createProject(`queues:\n  seen: { type: classic }\nfunctions:\n  tick: { schedule: "* * * * * *" }\n`, { tick: slow });
    let warren: RunningWarren | undefined;
    try {
      warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
      const said = await warren.waitForLog((l) => l.level === 40 && /ticks pile up/.test(l.msg), 15_000);
      expect(said).toMatchObject({ function: 'tick', queue: 'tick', schedule: '* * * * * *' });
      expect(said.waiting as number).toBeGreaterThanOrEqual(3);
      expect(said.msg).toMatch(/^the tick of \S+ waits behind \d+ other messages in tick: it runs late/);
      // Every tick is still there to run: the queue holds the ones waiting, none was dropped.
      expect((await queueInfo(vhost.url, 'tick')).messageCount).toBeGreaterThanOrEqual(2);
      await new Promise((r) => setTimeout(r, 3_000));
      expect(warren.logs.filter((l) => /ticks pile up/.test(l.msg))).toHaveLength(1);
    } finally {
      expect(await warren?.stop()).toBe(0);
      await project.remove();
      await vhost.cleanup();
    }
  });
});
