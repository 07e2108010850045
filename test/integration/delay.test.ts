/**
 * Delayed messages through the broker's delay ladder: `warren publish --delay`, ctx.publish with a
 * delay, and a delay that spans a Warren restart. The test itself consumes the target queue and
 * compares each arrival with the time the message was due (`x-warren-delay-due`, stamped by the
 * publisher on this same machine).
 */
import amqplib, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { createProject, runWarren, startWarren, waitFor, type Project, type RunningWarren } from '../helpers/runtime';

const queuesYaml = `
exchanges:
  events: { type: topic }
queues:
  arrivals: { type: classic }
bindings:
  - "events[arrive.#] -> arrivals"
functions:
  scatter: {}
  relay: {}
`;

/** Publishes one delayed message per entry of `delays` (ms) to events/arrive.<tag>. */
const scatter = `
import type { Handler } from 'warren';
const handler: Handler<{ tag: string; delays: number[] }> = async (message, ctx) => {
  await Promise.all(message.delays.map((delay, i) => ctx.publish('events', 'arrive.' + message.tag, { i, delay }, { delay })));
};
export default handler;
`;

/** One delayed publish where the message says, then a report to events/arrive.<tag>: published, or the error. */
const relay = `
import type { Handler } from 'warren';
type Relay = { exchange: string; routingKey: string; delay: number; tag: string };
const handler: Handler<Relay> = async (m, ctx) => {
  try {
    await ctx.publish(m.exchange, m.routingKey, { tag: m.tag }, { delay: m.delay });
    await ctx.publish('events', 'arrive.' + m.tag, { published: true });
  } catch (err) {
    await ctx.publish('events', 'arrive.' + m.tag, { error: (err as Error).message });
  }
};
export default handler;
`;

interface Arrival {
  routingKey: string;
  body: { i?: number; delay?: number; cli?: boolean; published?: boolean; error?: string };
  due: number;
  at: number;
  headers: Record<string, unknown>;
}

describe('delayed messages', () => {
  let vhost: TestVhost;
  let project: Project;
  let warren: RunningWarren;
  let consumer: ChannelModel;
  const arrivals: Arrival[] = [];

  const arrivedFor = (tag: string, n: number, timeoutMs: number) =>
    waitFor(() => {
      const mine = arrivals.filter((a) => a.routingKey === `arrive.${tag}`);
      return mine.length >= n ? mine : undefined;
    }, timeoutMs);

  beforeAll(async () => {
    vhost = await createTestVhost('delay');
    project = await createProject(queuesYaml, { scatter, relay });
    warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
    consumer = await amqplib.connect(vhost.url);
    const channel = await consumer.createChannel();
    await channel.consume(
      'arrivals',
      (m) => {
        if (!m) return;
        const headers = m.properties.headers ?? {};
        arrivals.push({
          routingKey: m.fields.routingKey,
          body: JSON.parse(m.content.toString()),
          due: Number(headers['x-warren-delay-due']),
          at: Date.now(),
          headers,
        });
      },
      { noAck: true },
    );
  });

  afterAll(async () => {
    await consumer?.close();
    const code = await warren?.stop();
    await project?.remove();
    await vhost?.cleanup();
    expect(code).toBe(0);
  });

  it('delivers `warren publish --delay 2s` between 2.0 and 2.5 s later, with its routing key and headers', async () => {
    const cli = await runWarren(['publish', 'events', 'arrive.cli', '{"cli":true}', '--delay', '2s', '--header', 'trace=t1', '--dir', project.dir], {
      AMQP_URL: vhost.url,
    });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('delivered in 2 s');
    // Counted while it waits (the admin API reads the ladder's depths).
    const delayed = async () => ((await (await fetch(`http://127.0.0.1:${warren.adminPort}/functions`)).json()) as { delayed: { waiting: number } }).delayed;
    expect((await delayed()).waiting).toBe(1);
    const [arrival] = await arrivedFor('cli', 1, 10_000);
    const published = arrival!.due - 2_000;
    const tookMs = arrival!.at - published;
    console.log(`--delay 2s arrived after ${tookMs} ms`);
    expect(tookMs).toBeGreaterThanOrEqual(2_000);
    expect(tookMs).toBeLessThanOrEqual(2_500);
    expect(arrival!.body).toEqual({ cli: true });
    expect(arrival!.headers['trace']).toBe('t1');
    // The ladder's bookkeeping stays behind; only the due time travels on.
    expect(Object.keys(arrival!.headers).filter((h) => h.startsWith('x-') && h !== 'x-warren-delay-due')).toEqual([]);
  });

  it('delivers 200 messages delayed 1–10 s by ctx.publish never early and on time', async () => {
    const delays = Array.from({ length: 200 }, () => 1_000 + Math.floor(Math.random() * 9_001));
    await publishRaw(vhost.url, '', 'scatter', JSON.stringify({ tag: 'many', delays }), { contentType: 'application/json' });
    const got = await arrivedFor('many', 200, 30_000);
    expect(got).toHaveLength(200);
    expect(new Set(got.map((a) => a.body.i)).size).toBe(200);
    const lateness = got.map((a) => a.at - a.due).sort((a, b) => a - b);
    const p = (q: number) => lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))]!;
    console.log(`200 delayed messages: lateness min ${lateness[0]} ms, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${lateness.at(-1)} ms`);
    // Never early, strictly.
    expect(lateness[0]).toBeGreaterThanOrEqual(0);
    // On time: the target is 0.5 s; the bounds leave room for a loaded machine, while a ladder that
    // routed a level wrongly would be early, or late by seconds.
    expect(p(0.5)).toBeLessThanOrEqual(500);
    expect(lateness.at(-1)).toBeLessThanOrEqual(2_000);
  });

  it('says a delay in milliseconds as a duration, and publishes `--delay 0` at once, straight to its exchange', async () => {
    const ms = await runWarren(['publish', 'events', 'arrive.ms', '{"cli":true}', '--delay', '1500', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(ms.code).toBe(0);
    expect(ms.stdout).toContain('delivered in 1.5 s');
    const [delayed] = await arrivedFor('ms', 1, 10_000);
    expect(delayed!.at - (delayed!.due - 1_500)).toBeGreaterThanOrEqual(1_500);

    const now = await runWarren(['publish', 'events', 'arrive.now', '{"cli":true}', '--delay', '0', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(now.code).toBe(0);
    expect(now.stdout).not.toContain('delivered in');
    const [arrival] = await arrivedFor('now', 1, 10_000);
    // Not through the ladder and its forwarder, which stamp the due time.
    expect(arrival!.headers['x-warren-delay-due']).toBeUndefined();
  });

  it('refuses a delay longer than the ladder holds, before publishing anything', async () => {
    const cli = await runWarren(['publish', 'events', 'arrive.never', '{}', '--delay', '3d', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('WARREN_E_DELAY');
    expect(cli.stderr).toContain('longer than');
  });

  const relayed = (m: { exchange: string; routingKey: string; delay: number; tag: string }) =>
    publishRaw(vhost.url, '', 'relay', JSON.stringify(m), { contentType: 'application/json' });

  it('throws at once for a delayed ctx.publish to an exchange that does not exist, as it does without a delay', async () => {
    await relayed({ exchange: 'nowhere', routingKey: 'x', delay: 5_000, tag: 'missing' });
    const [report] = await arrivedFor('missing', 1, 10_000);
    expect(report!.body.error).toContain('no exchange "nowhere" on the broker');
  });

  it('refuses a delay of 1.5 or -1 in ctx.publish to the handler, naming the value and what is accepted, and publishes nothing, as `warren publish --delay` does', async () => {
    const accepted = 'expected whole milliseconds >= 0 (e.g. 1500) or a duration such as "500ms", "90s", "5m", "1h30m"';
    await relayed({ exchange: 'events', routingKey: 'arrive.fraction-sent', delay: 1.5, tag: 'fraction' });
    await relayed({ exchange: 'events', routingKey: 'arrive.negative-sent', delay: -1, tag: 'negative' });
    const [fraction] = await arrivedFor('fraction', 1, 10_000);
    const [negative] = await arrivedFor('negative', 1, 10_000);
    expect(fraction!.body).toEqual({ error: `delay 1.5 is not a whole number of milliseconds: ${accepted}` });
    expect(negative!.body).toEqual({ error: `delay -1 is negative: ${accepted}` });

    const cli = await runWarren(['publish', 'events', 'arrive.cli-fraction-sent', '{}', '--delay', '1.5', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toContain(`delay "1.5" is not a whole number of milliseconds: ${accepted}`);
    // A delay read as 2 ms would be due at once: past the forwarder's hold, still nothing arrived.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(arrivals.filter((a) => a.routingKey.endsWith('-sent'))).toEqual([]);
  });

  it('keeps a delayed message nothing takes when it comes due in warren.delay.undeliverable, with the reason logged', async () => {
    const before = (await queueInfo(vhost.url, 'warren.delay.undeliverable')).messageCount;
    // An exchange with no binding for the key, and a queue (through the default exchange) that does not exist.
    await relayed({ exchange: 'events', routingKey: 'unbound.key', delay: 1, tag: 'unbound' });
    await relayed({ exchange: '', routingKey: 'no-such-queue', delay: 1, tag: 'noqueue' });
    await arrivedFor('unbound', 1, 10_000);
    await arrivedFor('noqueue', 1, 10_000);
    await waitFor(async () => (await queueInfo(vhost.url, 'warren.delay.undeliverable')).messageCount === before + 2, 5_000);
    const logged = warren.logs.filter((l) => /delayed message cannot be delivered: it was unroutable/.test(l.msg));
    expect(logged.map((l) => [l['exchange'], l['routingKey']]).sort()).toEqual([
      ['', 'no-such-queue'],
      ['events', 'unbound.key'],
    ]);
    expect(logged.map((l) => l.msg).join('\n')).toContain('queue "no-such-queue" does not exist');
    // `warren status` says where they are.
    const status = await runWarren(['status', '--dir', project.dir], warren.env);
    expect(status.stdout).toContain(`\nDELAYED\n${before + 2} undeliverable in warren.delay.undeliverable`);
  });

  it('delivers a message whose delay spans a Warren restart', async () => {
    const cli = await runWarren(['publish', 'events', 'arrive.restart', '{"cli":true}', '--delay', '6s', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code).toBe(0);
    expect(await warren.stop()).toBe(0);
    expect((await queueInfo(vhost.url, 'warren.delay.deliver')).consumerCount).toBe(0);
    warren = await startWarren(project.dir, vhost.url, { timeoutMs: 60_000 });
    const [arrival] = await arrivedFor('restart', 1, 20_000);
    console.log(`delay across a restart: ${arrival!.at - arrival!.due} ms late`);
    expect(arrival!.at).toBeGreaterThanOrEqual(arrival!.due);
    await new Promise((r) => setTimeout(r, 300));
    expect(arrivals.filter((a) => a.routingKey === 'arrive.restart')).toHaveLength(1);
  });
});
