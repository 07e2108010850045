/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against a real runtime
 * and broker: every function is shown live; scaling on the page reaches the broker; a dead letter
 * appears with its error, is opened, edited, replayed and handled once; purge asks first; a
 * cross-site request cannot change anything. Screenshots of each view go to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestVhost, managementQueue, publishRaw, queueInfo, type TestVhost } from '../helpers/broker';
import { runWarren, waitFor } from '../helpers/runtime';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createProject, release, startRuntime, type Project, type Runtime } from './admin-harness';
import { DASHBOARD_YAML, handledUntil, readLive, reportingFunction, type Handled } from './dashboard-helpers';

let vhost: TestVhost;
let project: Project;
let runtime: Runtime;
let browser: TestBrowser;
let base: string;

beforeAll(async () => {
  vhost = await createTestVhost('dashboard');
  project = await createProject({
    'queues.yaml': DASHBOARD_YAML,
    'functions/orders.ts': reportingFunction('orders'),
    'functions/audit.ts': reportingFunction('audit', false),
  });
  runtime = await startRuntime(project.dir, vhost.url);
  await runtime.waitReady(45_000);
  base = `http://127.0.0.1:${runtime.port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await release(runtime, project, vhost);
});

/** The first `history` event of the live stream, as a page that opens now receives it. */
async function historyOnOpening(): Promise<{ t: number[]; functions: Record<string, { handledPerSec: Array<number | null> }> }> {
  const { value, text } = await readLive(base, (sofar) => /event: history\ndata: (.*)\n\n/.exec(sofar)?.[1], 30_000);
  if (value === undefined) throw new Error(`the stream ended before its history: ${text}`);
  return JSON.parse(value);
}

describe('the dashboard', () => {
  it('opened after the messages were handled, draws them: the runtime keeps the last minutes whether a page is open or not', async () => {
    for (let i = 0; i < 10; i++) await publishRaw(vhost.url, 'shop', 'audit.before', JSON.stringify({ id: `b${i}` }), { contentType: 'application/json' });
    await handledUntil(vhost.url, [], (h: Handled[]) => h.filter((x) => x.fn === 'audit' && String(x.body.id).startsWith('b')).length === 10);
    // a tick or two after the last one, so the rate is in a frame
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const history = await historyOnOpening();
    const handled = history.functions.audit?.handledPerSec ?? [];
    expect(history.t.length, 'frames from before the page opened').toBeGreaterThan(2);
    expect(Math.max(0, ...handled.map((v) => v ?? 0)), 'the audit function handled 10 messages before any page opened').toBeGreaterThan(0);
  });

  it('shows every function, live, with a strict Content-Security-Policy and cached assets', async () => {
    const { page } = browser;
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const res = await page.goto(`${base}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(res?.headers()['content-security-policy']).not.toContain('unsafe-inline');
    for (const fn of ['audit', 'orders']) await page.locator(`[data-function="${fn}"]`).waitFor();
    await expect.poll(() => page.getByTestId('runtime-state').textContent()).toBe('ready');
    // How each runs, as queues.yaml says it.
    expect(await page.locator('[data-function="orders"] [data-testid="setup"]').textContent()).toBe('queue orders · prefetch 1 · timeout 30 s · 1 attempt');
    // Live: the figures follow the messages without a reload.
    for (let i = 0; i < 20; i++) await publishRaw(vhost.url, 'shop', 'order.created', JSON.stringify({ id: `o${i}` }), { contentType: 'application/json' });
    await expect.poll(() => page.locator('[data-function="audit"] .chart').count()).toBe(3);
    await expect.poll(async () => (await page.locator('.summary').textContent()) ?? '', { timeout: 10_000 }).toMatch(/functions/);
    const script = await page.locator('script[type=module]').getAttribute('src');
    const asset = await fetch(`${base}${script}`);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    await page.waitForTimeout(2_500);
    await browser.screenshot('functions');
    expect(errors).toEqual([]);
  });

  it('reads at 1280 px, 800 px and on a 390 px phone: the functions table stays in its box, charts label their units', async () => {
    const { page } = browser;
    // The legend shows the newest figures without a pointer on the chart, and a latency axis never says "0.0 ms".
    const latency = page.locator('[data-function="audit"] .chart').nth(1).locator('.u-legend');
    await expect.poll(() => latency.textContent()).toMatch(/p50:?\s*[\d.]+ m?s/);
    // (in the page: the test's own type-check has no DOM)
    const fits = () =>
      page.evaluate<{ table: number; wrap: number; page: number; viewport: number }>(`(() => {
        const wrap = document.querySelector('.fn-table-wrap');
        return { table: wrap.querySelector('table').scrollWidth, wrap: wrap.clientWidth, page: document.documentElement.scrollWidth, viewport: innerWidth };
      })()`);
    try {
      for (const width of [800, 390]) {
        await page.setViewportSize({ width, height: 900 });
        await page.waitForTimeout(300);
        const f = await fits();
        expect(f.page, `page width at ${width} px`).toBeLessThanOrEqual(f.viewport);
        if (width === 800) expect(f.table, 'functions table at 800 px').toBeLessThanOrEqual(f.wrap);
        await browser.screenshot(`functions-${width}`);
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('scales a function from 1 to 3 replicas on the page, and the broker sees 3 consumers', async () => {
    const { page } = browser;
    const card = page.locator('[data-function="orders"]');
    await expect.poll(() => card.getByTestId('replicas').textContent()).toBe('1/1');
    await card.getByRole('button', { name: 'scale orders up' }).click();
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 10_000 }).toBe('2/2');
    await card.getByRole('button', { name: 'scale orders up' }).click();
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 10_000 }).toBe('3/3');
    // The management API refreshes its consumer counts every few seconds.
    await waitFor(async () => (await managementQueue(vhost.name, 'orders'))?.consumers === 3, 20_000, 500);
    expect((await queueInfo(vhost.url, 'orders')).consumerCount).toBe(3);
  });

  it('redeploys a function from the page: a new version when its file changed', async () => {
    const { page } = browser;
    const card = page.locator('[data-function="audit"]');
    const before = await card.locator('.chip').textContent();
    await card.getByRole('button', { name: 'Redeploy' }).click();
    await expect.poll(() => page.locator('.toasts').textContent()).toContain('audit: the file has not changed');
    await project.write('functions/audit.ts', reportingFunction('audit', false) + '(globalThis as Record<string, unknown>).auditVersion = 2;\n');
    await expect.poll(() => page.locator('.toasts').textContent(), { timeout: 10_000 }).toBe('');
    await card.getByRole('button', { name: 'Redeploy' }).click();
    await expect.poll(() => page.locator('.toasts').textContent(), { timeout: 45_000 }).not.toBe('');
    expect(await page.locator('.toasts').textContent()).toContain('audit redeployed');
    await expect.poll(() => card.locator('.chip').textContent(), { timeout: 10_000 }).not.toBe(before);
  });

  it("warns on every view about the project's files, as `warren check` does, and forgets a warning once the file is fixed", async () => {
    const { page } = browser;
    await page.goto(`${base}/#/functions`);
    await page.locator('[data-function="orders"]').waitFor();
    const banner = page.getByTestId('config-warnings');
    expect(await banner.count()).toBe(0);
    await project.write('functions/notes.cjs', 'module.exports = async () => undefined;\n');
    expect((await runtime.admin('/deploy', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(200);
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toContain('functions/notes.cjs is not read');
    expect(await banner.textContent()).toContain('rename it functions/notes.js');
    await page.goto(`${base}/#/topology`);
    await expect.poll(() => banner.count()).toBe(1);
    await rm(join(project.dir, 'functions/notes.cjs'));
    expect((await runtime.admin('/deploy', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(200);
    await expect.poll(() => banner.count(), { timeout: 10_000 }).toBe(0);
  });

  it('shows a dead letter with its error; opened, edited and replayed, it is handled once, in its own function only', async () => {
    const { page } = browser;
    const seen: Handled[] = [];
    await handledUntil(vhost.url, seen, () => true);
    seen.length = 0;
    await publishRaw(vhost.url, 'shop', 'order.paid', JSON.stringify({ id: 'bad-1', reject: true }), { contentType: 'application/json', messageId: 'bad-1' });
    await page.getByRole('link', { name: /Dead letters/ }).click();
    await page.locator('select').selectOption('orders');
    const row = page.getByRole('button', { name: 'open bad-1' });
    await row.waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('table.letters').textContent()).toContain('refused order bad-1');
    await row.click();
    await expect.poll(() => page.getByTestId('letter-error').textContent()).toBe('refused order bad-1');
    // With the letter open beside it, the list still fits its box at 1280 px: the error column gives way.
    const list = await page.evaluate<{ scroll: number; box: number }>(
      `(() => { const w = document.querySelector('.split .table-wrap'); return { scroll: w.scrollWidth, box: w.clientWidth }; })()`,
    );
    expect(list.scroll).toBeLessThanOrEqual(list.box);
    // Escape closes it and gives the keyboard back to its row; Enter there opens it again.
    await page.keyboard.press('Escape');
    await expect.poll(() => page.evaluate("document.activeElement?.getAttribute('aria-label')")).toBe('open bad-1');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('letter-error').textContent()).toBe('refused order bad-1');
    const editor = page.locator('textarea.body');
    expect(JSON.parse(await editor.inputValue())).toEqual({ id: 'bad-1', reject: true });
    await browser.screenshot('dead-letter');
    await editor.fill(JSON.stringify({ id: 'bad-1', reject: false, fixed: 'by hand' }, null, 2));
    await page.getByRole('button', { name: 'Replay edited' }).click();
    await handledUntil(vhost.url, seen, (all) => all.some((h) => h.fn === 'orders' && h.body.id === 'bad-1'));
    await page.waitForTimeout(1_000);
    await handledUntil(vhost.url, seen, () => true);
    // audit had it once (the first publish); orders once, with the edit; both saw the original route.
    const bad = seen.filter((h) => h.body.id === 'bad-1');
    expect(bad.map((h) => [h.fn, h.body.fixed ?? null, h.exchange, h.routingKey]).sort()).toEqual([
      ['audit', null, 'shop', 'order.paid'],
      ['orders', 'by hand', 'shop', 'order.paid'],
    ]);
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 0);
    await expect.poll(() => page.locator('.workbench').textContent(), { timeout: 10_000 }).toContain("orders's dead-letter queue is empty");
  });

  it('purges only after a confirmation; on a phone the list shows each letter’s error beside its id', async () => {
    const { page } = browser;
    // p2's id is as long as a UUID, as most producers' are.
    const ids = ['p1', 'p2-3f1c9a4e-7b2d-4c8e-9a1f-5d6e7f8a9b0c'];
    for (const id of ids) await publishRaw(vhost.url, '', 'orders', JSON.stringify({ id, reject: true }), { contentType: 'application/json', messageId: id });
    // p1 twice: one message dead-lettered twice (at-least-once), as after a broker restart.
    await publishRaw(vhost.url, '', 'orders', JSON.stringify({ id: 'p1', reject: true, second: true }), { contentType: 'application/json', messageId: 'p1' });
    await page.getByRole('button', { name: `open ${ids[1]}` }).waitFor({ timeout: 10_000 });
    await expect.poll(() => page.getByRole('button', { name: 'open p1' }).count(), { timeout: 10_000 }).toBe(2);
    // Opened, one of them says there are two, and that Replay would replay both.
    await page.getByRole('button', { name: 'open p1' }).first().click();
    await expect.poll(() => page.getByTestId('letter-copies').textContent()).toMatch(/^2 dead letters carry this message id .*Replay replays all 2\.$/);
    await browser.screenshot('dead-letter-copies');
    await page.keyboard.press('Escape');
    try {
      await page.setViewportSize({ width: 390, height: 900 });
      await page.waitForTimeout(300);
      const error = await page.locator('table.letters tbody tr').filter({ hasText: 'p2-' }).locator('td.err').boundingBox();
      expect(error!.width, 'the error column on a 390 px phone').toBeGreaterThan(60);
      expect(error!.x + error!.width).toBeLessThanOrEqual(390);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      await browser.screenshot('dead-letters-390');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.getByRole('button', { name: 'Purge…' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('deleted for good');
    await browser.screenshot('purge-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await queueInfo(vhost.url, 'orders.dead')).messageCount).toBe(3);
    await page.getByRole('button', { name: 'Purge…' }).click();
    await page
      .getByRole('dialog')
      .getByRole('button', { name: /^Purge 3 messages$/ })
      .click();
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 0);
    await expect.poll(() => page.locator('.toasts').textContent()).toContain('purged 3 dead letters of orders');
  });

  it('replays only the dead letters a search shows, after a confirmation; the others stay as they were', async () => {
    const { page } = browser;
    for (const id of ['net-1', 'card-1', 'net-2'])
      await publishRaw(vhost.url, '', 'orders', JSON.stringify({ id, reject: true }), { contentType: 'application/json', messageId: id });
    await waitFor(async () => (await queueInfo(vhost.url, 'orders.dead')).messageCount === 3);
    const deaths = async () => {
      const res = await runtime.admin('/functions/orders/dead-letters?limit=50');
      const body = (await res.json()) as { letters: Array<{ messageId: string; deadLetteredAt: string }> };
      return Object.fromEntries(body.letters.map((l) => [l.messageId, l.deadLetteredAt]));
    };
    const before = await deaths();
    await page.getByRole('button', { name: 'open card-1' }).waitFor({ timeout: 10_000 });
    // No search: no such button.
    expect(await page.getByRole('button', { name: /^Replay matches/ }).count()).toBe(0);
    await page.getByRole('searchbox').fill('refused net');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('button', { name: 'Replay matches (2)' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('the others stay');
    await browser.screenshot('replay-matches-confirm');
    await dialog.getByRole('button', { name: 'Replay 2 matches' }).click();
    await expect.poll(() => page.locator('.toasts').textContent()).toContain('matches: replayed 2 messages into orders');
    // The two ran again (and were refused again: a new time of death); card-1 never left.
    await expect.poll(async () => Object.keys(await deaths()).sort(), { timeout: 10_000 }).toEqual(['card-1', 'net-1', 'net-2']);
    await expect
      .poll(async () => (await deaths())['net-1'] !== before['net-1'] && (await deaths())['net-2'] !== before['net-2'], { timeout: 10_000 })
      .toBe(true);
    expect((await deaths())['card-1']).toBe(before['card-1']);
    // Left empty for what follows.
    await runtime.admin('/functions/orders/dead-letters', { method: 'DELETE' });
    await page.getByRole('searchbox').fill('');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
  });

  it('counts delayed messages, and says where one that came due with nowhere to go waits', async () => {
    const { page } = browser;
    await page.goto(`${base}/`);
    const tile = page.locator('.summary .stat', { hasText: 'delayed' }).locator('.stat-value');
    await expect.poll(() => tile.textContent()).toBe('0');
    const cli = await runWarren(['publish', '', 'no-such-queue', '{"late":true}', '--delay', '1s', '--dir', project.dir], { AMQP_URL: vhost.url });
    expect(cli.code).toBe(0);
    const banner = () =>
      page
        .getByTestId('undeliverable')
        .textContent({ timeout: 200 })
        .catch(() => null);
    await expect.poll(banner, { timeout: 15_000 }).toContain('1 delayed message came due with nowhere to go');
    expect(await banner()).toContain('warren.delay.undeliverable');
    expect(await tile.textContent()).toBe('0');
  });

  it('draws the topology', async () => {
    const { page } = browser;
    await page.getByRole('link', { name: 'Topology' }).click();
    const svg = page.locator('.topology svg');
    await svg.waitFor();
    const text = (await svg.textContent()) ?? '';
    for (const name of ['shop', 'results', 'orders', 'audit', 'order.*', '#']) expect(text).toContain(name);
    // Each routing key is a box of its own (no text on a line): order.*, # and the fanout's empty key.
    expect(await page.locator('.topology .node.binding').count()).toBe(3);
    expect(text).toContain('(empty key)');
    // A queue's dead-letter queue is named whole, on the drawing and in the table.
    expect(text).toContain('dead letters: orders.dead');
    await page.locator('details.topology-table summary').click();
    const table = page.locator('.topology-table table');
    expect(await table.locator('th').allTextContents()).toContain('Dead letters');
    expect(await table.locator('tr').filter({ hasText: 'order.*' }).textContent()).toContain('orders.dead');
    await browser.screenshot('topology');
  });

  it('refuses to be read by a page whose own DNS name points at 127.0.0.1 (DNS rebinding), though that browser sends no Sec-Fetch-* or Origin', async () => {
    const rebinding = await launchBrowser({ args: ['--host-resolver-rules=MAP rebound.example 127.0.0.1'] });
    try {
      const port = new URL(base).port;
      const page = await rebinding.context.newPage();
      // The page itself holds no data (it is the sign-in form's too); what it asks for is refused.
      await page.goto(`http://rebound.example:${port}/`);
      const read = await page.evaluate(async () => {
        const res = await fetch('/functions');
        return { status: res.status, body: await res.text() };
      });
      expect(read.status).toBe(401);
      expect(read.body).not.toContain('"orders"');
      expect(read.body).toContain('a request for host \\"rebound.example:');
    } finally {
      await rebinding.close();
    }
  });

  it('refuses a state change from another site, whatever the browser sends along', async () => {
    const evil: Server = createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title>'));
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      // A simple (no-preflight) POST, as a hidden form or a no-cors fetch would send it.
      const status = await page.evaluate(async (url) => {
        await fetch(`${url}/functions/orders/scale`, { method: 'POST', mode: 'no-cors', body: '{"replicas": 0}', headers: { 'content-type': 'text/plain' } });
        return 'sent';
      }, base);
      expect(status).toBe('sent');
      await page.close();
    } finally {
      evil.close();
    }
    await new Promise((r) => setTimeout(r, 500));
    const orders = (await (await runtime.admin('/functions/orders')).json()) as { replicas: { desired: number } };
    expect(orders.replicas.desired).toBe(3);
    // The same, spelled out: another origin, or a browser request without the dashboard's header.
    const forged = await runtime.admin('/functions/orders/scale', {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{"replicas": 0}',
    });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { code: string }).code).toBe('WARREN_E_ADMIN_FORGERY');
    const headerless = await runtime.admin('/functions/orders/scale', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'same-origin', origin: base, 'content-type': 'application/json' },
      body: '{"replicas": 0}',
    });
    expect(headerless.status).toBe(403);
    // The CLI's way (no browser headers) still works.
    const cli = await runtime.admin('/functions/orders/scale', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"replicas": 1}' });
    expect(cli.status).toBe(200);
  });
});
