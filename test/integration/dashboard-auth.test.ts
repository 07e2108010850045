/**
 * The dashboard on a runtime bound to every address (WARREN_ADMIN_HOST=0.0.0.0) with a token, reached
 * at 127.0.0.1 in a real browser: without the token the API refuses and the page asks for it; a wrong
 * token is refused; the right one signs the browser in with an HttpOnly, SameSite=Strict cookie that
 * page scripts cannot read; signing out ends it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestVhost, type TestVhost } from '../helpers/broker';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { createProject, release, startRuntime, type Project, type Runtime } from './admin-harness';
import { DASHBOARD_YAML, reportingFunction } from './dashboard-helpers';

const TOKEN = 'correct-horse-battery-staple-0123456789';
let vhost: TestVhost;
let project: Project;
let runtime: Runtime;
let browser: TestBrowser;

beforeAll(async () => {
  vhost = await createTestVhost('dashboard-auth');
  project = await createProject({
    'queues.yaml': DASHBOARD_YAML,
    'functions/orders.ts': reportingFunction('orders'),
    'functions/audit.ts': reportingFunction('audit'),
  });
  runtime = await startRuntime(project.dir, vhost.url, { WARREN_ADMIN_HOST: '0.0.0.0', WARREN_ADMIN_TOKEN: TOKEN });
  await runtime.waitReady(45_000);
  browser = await launchBrowser({ colorScheme: 'dark' });
});

afterAll(async () => {
  await browser?.close();
  await release(runtime, project, vhost);
});

describe('the dashboard behind a token', () => {
  it('refuses without the token, signs in with it into an HttpOnly cookie, and signs out', async () => {
    const base = `http://127.0.0.1:${runtime.port}`;
    expect((await fetch(`${base}/functions`)).status).toBe(401);
    expect((await fetch(`${base}/events`)).status).toBe(401);

    // Asking whether it is signed in is not an error: the sign-in form comes up with a clean console.
    const session = await fetch(`${base}/session`);
    expect(session.status).toBe(200);
    expect(await session.json()).toMatchObject({ signedIn: false, tokenRequired: true });
    const { page, context } = browser;
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${base}/`);
    const field = page.getByLabel('Admin token');
    await field.waitFor();
    await page.waitForTimeout(500);
    expect(errors).toEqual([]);
    expect(await page.locator('[data-function]').count()).toBe(0);
    await browser.screenshot('sign-in');

    await field.fill('wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong token');
    expect(await context.cookies()).toEqual([]);

    await field.fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const fn of ['audit', 'orders']) await page.locator(`[data-function="${fn}"]`).waitFor();
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'warren_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(TOKEN);
    expect(await page.evaluate('document.cookie')).toBe('');
    await page.waitForTimeout(2_000);
    await browser.screenshot('functions-dark');

    // The cookie acts for the page (scale through it), but not without the dashboard's header.
    const card = page.locator('[data-function="audit"]');
    await card.getByRole('button', { name: 'scale audit up' }).click();
    await expect.poll(() => card.getByTestId('replicas').textContent(), { timeout: 10_000 }).toBe('2/2');
    const cookieHeader = `warren_session=${cookie!.value}`;
    const forged = await fetch(`${base}/functions/audit/scale`, {
      method: 'POST',
      headers: { cookie: cookieHeader, 'content-type': 'application/json' },
      body: '{"replicas": 0}',
    });
    expect(forged.status).toBe(403);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await context.cookies()).toEqual([]);
  });
  it('reads a JSON sign-in sent with a form type (curl -d), and answers a body with no token as a bad request, not as a wrong token', async () => {
    const base = `http://127.0.0.1:${runtime.port}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const json = await fetch(`${base}/session`, { method: 'POST', headers: form, body: JSON.stringify({ token: TOKEN }) });
    expect(json.status).toBe(200);
    expect(json.headers.get('set-cookie')).toMatch(/HttpOnly/);
    const formToken = await fetch(`${base}/session`, { method: 'POST', headers: form, body: `token=${TOKEN}` });
    expect(formToken.status).toBe(200);
    for (const body of ['x', '{"token": 123}']) {
      const none = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(none.status, body).toBe(400);
      expect(await none.json()).toMatchObject({ error: 'the sign-in request carries no token', code: 'WARREN_E_USAGE' });
    }
    const wrong = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token": "nope"}' });
    expect(wrong.status).toBe(401);
  });
});
