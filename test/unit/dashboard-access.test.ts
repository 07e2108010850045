/** Who may use the admin API from a browser, and which browser requests may change state (runtime/admin/access.ts). */
import { describe, expect, it } from 'vitest';
import { checkAccess, cookiesOf, forgeryRefusal, sessionCookie, sessionValue, SESSION_COOKIE } from '../../runtime/admin/access';

const TOKEN = 's3cret-token';

describe('checkAccess', () => {
  it('lets anyone in on loopback without a token, under a loopback host name', () => {
    expect(checkAccess({ host: '127.0.0.1:8080' }, { token: null })).toEqual({ ok: true, via: 'open' });
    expect(checkAccess({ host: 'localhost:8080', 'sec-fetch-site': 'same-origin' }, { token: null })).toEqual({ ok: true, via: 'open' });
    expect(checkAccess({ host: '[::1]:8080', 'sec-fetch-mode': 'navigate' }, { token: null })).toEqual({ ok: true, via: 'open' });
    // A page whose DNS name was rebound to 127.0.0.1: same origin for the browser, refused here.
    const rebound = checkAccess({ host: 'evil.example:8080', 'sec-fetch-site': 'same-origin' }, { token: null });
    expect(rebound.ok).toBe(false);
    // Chromium sends no Sec-Fetch-* and no Origin from a plain-http page that is not on localhost: its GETs look like a script's.
    const bare = checkAccess({ host: 'evil.example:8080', accept: '*/*', 'user-agent': 'Mozilla/5.0', referer: 'http://evil.example:8080/' }, { token: null });
    expect(bare).toMatchObject({ ok: false, why: 'a request for host "evil.example:8080" on an admin API without a token' });
    // a client that sends no Host at all (HTTP/1.0) is no browser
    expect(checkAccess({}, { token: null })).toEqual({ ok: true, via: 'open' });
  });

  it('takes the bearer token or the session cookie, nothing else', () => {
    expect(checkAccess({ authorization: `Bearer ${TOKEN}` }, { token: TOKEN })).toEqual({ ok: true, via: 'bearer' });
    expect(checkAccess({ authorization: 'Bearer nope' }, { token: TOKEN }).ok).toBe(false);
    expect(checkAccess({ cookie: `a=1; ${SESSION_COOKIE}=${sessionValue(TOKEN)}` }, { token: TOKEN })).toEqual({ ok: true, via: 'cookie' });
    expect(checkAccess({ cookie: `${SESSION_COOKIE}=${sessionValue('other')}` }, { token: TOKEN }).ok).toBe(false);
    // The cookie holds a value derived from the token, not the token: the token itself is no cookie.
    expect(checkAccess({ cookie: `${SESSION_COOKIE}=${TOKEN}` }, { token: TOKEN }).ok).toBe(false);
    expect(checkAccess({}, { token: TOKEN }).ok).toBe(false);
  });

  it('writes an HttpOnly, SameSite=Strict session cookie', () => {
    const cookie = sessionCookie(TOKEN);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).not.toContain(TOKEN);
    expect(cookiesOf('x=1; warren_session=abc; y=2')).toEqual({ x: '1', warren_session: 'abc', y: '2' });
  });
});

describe('forgeryRefusal', () => {
  const host = '127.0.0.1:8080';
  it('lets reads through and the dashboard own requests', () => {
    expect(forgeryRefusal('GET', { host, 'sec-fetch-site': 'cross-site' }, 'open')).toBeNull();
    expect(forgeryRefusal('POST', { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin', 'x-warren-request': 'dashboard' }, 'open')).toBeNull();
    expect(forgeryRefusal('DELETE', { host, cookie: 'x=1', 'x-warren-request': 'dashboard' }, 'cookie')).toBeNull();
  });

  it('lets clients that are no browser through (the CLI, curl, a bearer token)', () => {
    expect(forgeryRefusal('POST', { host }, 'open')).toBeNull();
    expect(forgeryRefusal('POST', { host, authorization: 'Bearer x' }, 'bearer')).toBeNull();
  });

  it('refuses cross-site requests and browser requests without the dashboard header', () => {
    expect(forgeryRefusal('POST', { host, 'sec-fetch-site': 'cross-site' }, 'open')).toMatch(/cross-site/);
    expect(forgeryRefusal('POST', { host, 'sec-fetch-site': 'same-site' }, 'cookie')).toMatch(/same-site/);
    expect(forgeryRefusal('POST', { host, origin: 'http://evil.example' }, 'bearer')).toMatch(/origin/);
    expect(forgeryRefusal('POST', { host, origin: 'null' }, 'open')).toMatch(/origin/);
    expect(forgeryRefusal('POST', { host, origin: `http://${host}` }, 'open')).toMatch(/x-warren-request/);
    expect(forgeryRefusal('POST', { host, cookie: 'warren_session=x' }, 'cookie')).toMatch(/x-warren-request/);
    expect(forgeryRefusal('POST', { host, cookie: 'warren_session=x', 'x-warren-request': 'other' }, 'cookie')).toMatch(/x-warren-request/);
  });
});

describe('the dashboard files', () => {
  it('are cached for good when hashed, revalidated otherwise, gzipped when asked, and carry the CSP', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { answerFile, loadStaticFiles, CONTENT_SECURITY_POLICY } = await import('../../runtime/admin/static');
    const dir = await mkdtemp(join(tmpdir(), 'warren-static-'));
    try {
      await writeFile(join(dir, 'index.html'), '<!doctype html>' + ' '.repeat(600));
      await writeFile(join(dir, 'app-ABCD1234.js'), 'console.log(1);'.repeat(100));
      const files = await loadStaticFiles(dir);
      const page = answerFile(files.get('index.html')!, {});
      expect(page.headers['cache-control']).toBe('no-cache');
      expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
      expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
      expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
      const script = files.get('app-ABCD1234.js')!;
      const gz = answerFile(script, { 'accept-encoding': 'gzip, br' });
      expect(gz.headers['cache-control']).toContain('immutable');
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.body!.length).toBeLessThan(script.body.length);
      expect(answerFile(script, { 'if-none-match': script.etag }).status).toBe(304);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
