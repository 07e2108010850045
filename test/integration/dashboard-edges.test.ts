/**
 * The dashboard where a person works fast or the input is odd, in a real browser against a real
 * runtime and broker: clicks on + that come quicker than the page redraws all count; a dead letter
 * whose message id is `..` or `.` opens (no URL path can carry those) and the next one opens too; a
 * search of the dead letters does not offer the previous page's figures as its own while it runs; the
 * rates count messages, so a message retried twice is not three arrivals and two failures; a redeploy
 * that happened while the topology could not be declared again says both.
 */
import amqplib from 'amqplib';
import { get } from 'node:http';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { waitFor } from '../helpers/runtime';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createProject, release, startRuntime, type Project, type Runtime } from './admin-harness';
import { liveFrames } from './dashboard-helpers';

let vhost: TestVhost;
let project: Project;
let runtime: Runtime;
let browser: TestBrowser;
let base: string;

const YAML = `exchanges:
  audit: { type: fanout }
functions:
  orders:
    retry: { attempts: 1 }
  flaky:
    retry: { attempts: 3, backoff: fixed, delay: 100ms }
`;

/** Refuses `{"reject": true}` (a dead letter at once); everything else is done. */
const ORDERS = `import { Reject, type Handler } from 'warren';
const handler: Handler<{ reject?: boolean; note?: string }> = async (message) => {
  if (message && message.reject) throw new Reject('refused: ' + (message.note ?? 'no note'));
};
export default handler;
`;

/** Fails its first two attempts, then succeeds. */
const FLAKY = `import type { Handler } from 'warren';
const handler: Handler<unknown> = async (_message, ctx) => {
  if (ctx.attempt < 3) throw new Error('not yet, attempt ' + ctx.attempt);
};
export default handler;
`;

beforeAll(async () => {
  vhost = await createTestVhost('dashboard-edges');
  project = await createProject({ 'queues.yaml': YAML, 'functions/orders.ts': ORDERS, 'functions/flaky.ts': FLAKY });
  runtime = await startRuntime(project.dir, vhost.url);
  await runtime.waitReady(45_000);
  base = `http://127.0.0.1:${runtime.port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await release(runtime, project, vhost);
});

const reject = (id: string, note = id) =>
  publishRaw(vhost.url, '', 'orders', JSON.stringify({ reject: true, note }), { contentType: 'application/json', messageId: id });

async function desired(name: string): Promise<number> {
  return ((await (await runtime.admin(`/functions/${name}`)).json()) as { replicas: { desired: number } }).replicas.desired;
}

describe('the dashboard, fast hands and odd input', () => {
  // (how much it saves shows with a long history and many functions: `npm run bench`, row dashboard)
  it('sends its live feed gzipped to a browser that takes gzip, each event whole at once, and plain to one that does not', async () => {
    /** The feed's raw bytes and text until its first frame, asked with these request headers. */
    const firstFrame = (headers: Record<string, string>) =>
      new Promise<{ encoding: string | undefined; raw: number; text: string }>((resolve, reject) => {
        const req = get(`${base}/events`, { headers }, (res) => {
          let raw = 0;
          let text = '';
          res.on('data', (chunk: Buffer) => (raw += chunk.length));
          const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip()) : res;
          body.on('data', (chunk: Buffer) => {
            text += chunk.toString('utf8');
            if (!text.includes('event: frame')) return;
            req.destroy();
            resolve({ encoding: res.headers['content-encoding'], raw, text });
          });
          body.on('error', () => undefined);
        });
        req.on('error', (err) => (err.message.includes('aborted') || err.message.includes('socket hang up') ? undefined : reject(err)));
      });
    const zipped = await firstFrame({ 'accept-encoding': 'gzip, deflate, br' });
    expect(zipped.encoding).toBe('gzip');
    expect(zipped.text).toMatch(/^retry: 2000\nevent: history\ndata: \{/);
    const plain = await firstFrame({});
    expect(plain.encoding).toBeUndefined();
    expect(plain.text).toMatch(/^retry: 2000\nevent: history\ndata: \{/);
  });

  it('three clicks on + quicker than the page redraws ask for three more replicas, not one', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/functions`);
    const card = page.locator('[data-function="orders"]');
    await expect.poll(() => card.getByTestId('replicas').textContent()).toBe('1/1');
    // Three clicks in one turn of the page's event loop: nothing is redrawn between them.
    await card.getByRole('button', { name: 'scale orders up' }).evaluate((button) => {
      for (let i = 0; i < 3; i++) (button as unknown as { click(): void }).click();
    });
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 20_000 }).toBe('4/4');
    expect(await desired('orders')).toBe(4);
    await card.getByRole('button', { name: 'scale orders down' }).evaluate((button) => {
      for (let i = 0; i < 3; i++) (button as unknown as { click(): void }).click();
    });
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 20_000 }).toBe('1/1');
    expect(await desired('orders')).toBe(1);
    await waitFor(async () => (await queueInfo(vhost.url, 'orders')).consumerCount === 1, 20_000, 200);

    // Down to none stops the function: it asks first, and Cancel changes nothing.
    await card.getByRole('button', { name: 'scale orders down' }).click();
    const dialog = page.getByRole('dialog', { name: 'Stop orders?' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('they wait in its queue orders until');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForTimeout(300);
    expect(await desired('orders')).toBe(1);
    await card.getByRole('button', { name: 'scale orders down' }).click();
    await page.getByRole('dialog', { name: 'Stop orders?' }).getByRole('button', { name: 'Scale to 0' }).click();
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 20_000 }).toBe('0/0');
    await card.getByRole('button', { name: 'scale orders up' }).click();
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 20_000 }).toBe('1/1');
  });

  it('opens a dead letter whose message id is `..` or `.`, and the one opened after it', async () => {
    const { page } = browser;
    await reject('..', 'dot dot');
    await reject('.', 'one dot');
    await reject('plain-1', 'plain');
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 3);
    await page.goto(`${base}/#/dead-letters/orders`);
    for (const [id, note] of [
      ['..', 'dot dot'],
      ['.', 'one dot'],
      ['plain-1', 'plain'],
    ] as const) {
      await page.getByRole('button', { name: `open ${id}`, exact: true }).click();
      await expect.poll(() => page.getByTestId('letter-error').textContent()).toBe(`refused: ${note}`);
      expect(await page.locator('#detail-title').textContent()).toBe(id);
    }
    // Replayed from its panel, `..` goes back to orders (and is refused again: a new dead letter).
    await page.getByRole('button', { name: 'open ..', exact: true }).click();
    await expect.poll(() => page.getByTestId('letter-error').textContent()).toBe('refused: dot dot');
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await expect.poll(() => page.locator('.toasts').textContent()).toContain('replayed .. into orders');
    await runtime.admin('/functions/orders/dead-letters', { method: 'DELETE' });
  });

  it('while a search runs, the previous figures are not shown as its own, nor offered to "Replay matches"', async () => {
    const { page } = browser;
    for (let i = 0; i < 5; i++) await reject(`net-${i}`, `network ${i}`);
    await reject('card-0', 'card declined');
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 6);
    await page.goto(`${base}/#/dead-letters/orders`);
    await expect.poll(() => page.locator('.workbench .actions').textContent()).toContain('6 dead letters');
    // A search that takes its time, as over a queue of thousands.
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    await page.route(/\/dead-letters\?.*search=/, async (route) => {
      await held;
      await route.continue();
    });
    try {
      await page.getByRole('searchbox').fill('card');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      const matches = page.getByRole('button', { name: /^Replay matches/ });
      await matches.waitFor();
      await page.waitForTimeout(300);
      expect(await page.locator('.workbench .actions').textContent()).toContain('searching…');
      expect(await matches.textContent()).toBe('Replay matches');
      expect(await matches.isDisabled()).toBe(true);
    } finally {
      letGo();
    }
    await expect.poll(() => page.getByRole('button', { name: /^Replay matches/ }).textContent()).toBe('Replay matches (1)');
    expect(await page.locator('.workbench .actions').textContent()).toContain('1 match among 6 dead letters');
    await page.unroute(/\/dead-letters\?.*search=/);
    await runtime.admin('/functions/orders/dead-letters', { method: 'DELETE' });
  });

  it('holds the dead letters still while one is open, and offers a refresh when the queue changes meanwhile', async () => {
    const { page } = browser;
    for (let i = 0; i < 3; i++) await reject(`still-${i}`, `still ${i}`);
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 3);
    // A page of its own: the search of the test before stays in the box of one still open.
    await page.goto('about:blank');
    await page.goto(`${base}/#/dead-letters/orders`);
    await expect.poll(() => page.locator('.workbench .actions').textContent()).toContain('3 dead letters');
    await page.getByRole('button', { name: 'open still-1' }).click();
    await page.getByText('still 1').first().waitFor();

    // A new dead letter while one is open: the rows stay as they are (a read could move them under the pointer).
    await reject('still-3', 'still 3');
    const refresh = page.getByRole('button', { name: 'The queue changed: refresh' });
    await refresh.waitFor();
    expect(await page.locator('.workbench .actions').textContent()).toContain('3 dead letters');
    expect(await page.getByRole('button', { name: 'open still-3' }).count()).toBe(0);
    await refresh.click();
    await expect.poll(() => page.locator('.workbench .actions').textContent()).toContain('4 dead letters');
    await page.getByRole('button', { name: 'open still-3' }).waitFor();
    expect(await refresh.count()).toBe(0);
    await runtime.admin('/functions/orders/dead-letters', { method: 'DELETE' });
  });

  it('reads the queue again when the letter open is gone (purged behind its back), rather than keep listing it', async () => {
    const { page } = browser;
    for (let i = 0; i < 2; i++) await reject(`gone-${i}`, `gone ${i}`);
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 2);
    await page.goto('about:blank');
    await page.goto(`${base}/#/dead-letters/orders`);
    await expect.poll(() => page.locator('.workbench .actions').textContent()).toContain('2 dead letters');
    await page.getByRole('button', { name: 'open gone-0' }).click();
    await page.getByText('gone 0').first().waitFor();
    // Purged by someone else (rabbitmqctl purge_queue), not through Warren.
    const conn = await amqplib.connect(vhost.url);
    try {
      await (await conn.createChannel()).purgeQueue('orders.dead');
    } finally {
      await conn.close();
    }
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await expect.poll(() => page.locator('.toasts').textContent(), { timeout: 10_000 }).toContain('no dead letter gone-0 in orders.dead');
    await expect.poll(() => page.getByRole('button', { name: 'open gone-1' }).count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => page.locator('.workbench .actions').textContent(), { timeout: 10_000 }).toContain('0 dead letters');
  });

  it('counts messages in its rates: retried twice then done is one in, two retried, one handled and none failed', async () => {
    for (let i = 0; i < 20; i++) await publishRaw(vhost.url, '', 'flaky', JSON.stringify({ i }), { contentType: 'application/json' });
    // A frame whose window holds the whole burst: every rate over the same seconds.
    let last: Record<string, unknown> | undefined;
    await waitFor(
      async () => {
        for (const frame of await liveFrames(base, 2_500)) {
          const f = frame.functions.find((x) => x.name === 'flaky')!;
          last = f;
          const [inRate, handled, retried, failed] = [f.inPerSec, f.handledPerSec, f.retriedPerSec, f.failedPerSec].map(Number) as [
            number,
            number,
            number,
            number,
          ];
          if (handled > 0 && failed === 0 && Math.abs(retried / handled - 2) < 0.05 && Math.abs(inRate / handled - 1) < 0.05) return true;
        }
        return false;
      },
      20_000,
      0,
    ).catch(() => {
      throw new Error(`no frame counted the 20 messages as messages; the last: ${JSON.stringify(last)}`);
    });
    expect((await (await runtime.admin('/functions/flaky')).json()) as { failed: number }).toMatchObject({ failed: 0 });
  });

  it("lists a function's recent failures on its card: when, the message, its attempt, what became of it and the error", async () => {
    const { page } = browser;
    await page.goto(`${base}/#/functions`);
    await publishRaw(vhost.url, '', 'orders', JSON.stringify({ reject: true, note: 'bad order' }), { contentType: 'application/json', messageId: 'o-bad' });
    const card = page.locator('[data-function="orders"] [data-testid="recent-failures"]');
    await expect
      .poll(
        () =>
          card
            .locator('summary')
            .textContent({ timeout: 200 })
            .catch(() => null),
        { timeout: 10_000 },
      )
      .toContain('refused: bad order');
    await card.locator('summary').click();
    const item = (await card.locator('li').first().textContent()) ?? '';
    expect(item).toMatch(/o-bad attempt 1: dead-lettered \(reject\) · refused: bad order$/);
    const api = (await (await runtime.admin('/functions/orders')).json()) as { recentFailures: Array<Record<string, unknown>> };
    expect(api.recentFailures[0]).toMatchObject({ messageId: 'o-bad', attempt: 1, outcome: 'dead', reason: 'reject', error: 'refused: bad order' });
  });

  it('a redeploy that happened while the topology could not be declared again says both', async () => {
    const { page } = browser;
    await page.goto(`${base}/#/functions`);
    // `audit` deleted and declared again as a direct exchange by someone else: queues.yaml says fanout.
    const conn = await amqplib.connect(vhost.url);
    try {
      const ch = await conn.createChannel();
      await ch.deleteExchange('audit');
      await ch.assertExchange('audit', 'direct', { durable: true });
      await ch.close();
    } finally {
      await conn.close();
    }
    const card = page.locator('[data-function="orders"]');
    await card.getByRole('button', { name: 'Redeploy' }).click();
    await expect.poll(() => page.locator('.toasts').textContent(), { timeout: 20_000 }).toContain('but:');
    const said = (await page.locator('.toasts').textContent()) ?? '';
    expect(said).toContain('orders: the file has not changed');
    expect(said).toContain('exchange audit already exists on the broker with type = direct');
  });
});
