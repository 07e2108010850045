/**
 * Who may call the admin API from a browser, and which browser requests may change anything. Pure:
 * request headers and the binding in, a decision out (runtime/admin/server.ts applies it).
 *
 * - Loopback without a token: open, but a request must name a loopback host (`Host:`), so a web page
 *   that rebinds its own DNS name to 127.0.0.1 cannot read or act on the API.
 * - With a token: `Authorization: Bearer <token>`, or the dashboard's session cookie, which holds a
 *   value derived from the token (HMAC), HttpOnly and SameSite=Strict, so page scripts never see it.
 * - A request that changes state (anything but GET/HEAD) coming from a browser must be same-origin
 *   (Sec-Fetch-Site, Origin) and carry `X-Warren-Request: dashboard`: a cross-site form or a
 *   no-cors fetch cannot set that header, and a cross-origin fetch that sets it needs a CORS
 *   preflight, which this server never grants.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { authorized, isLoopback, type AdminBinding } from './auth';

export const SESSION_COOKIE = 'warren_session';
export const REQUEST_HEADER = 'x-warren-request';
export const REQUEST_HEADER_VALUE = 'dashboard';
/** a signed-in browser stays signed in for a week, or until the token changes */
export const SESSION_MAX_AGE_S = 7 * 24 * 3600;

export type Access = { ok: true; via: 'open' | 'bearer' | 'cookie' } | { ok: false; why: string; hint: string };

export function checkAccess(headers: IncomingHttpHeaders, binding: Pick<AdminBinding, 'token'>): Access {
  const { token } = binding;
  if (token === null) {
    // Any request, not only one that looks like a browser's: Chromium sends no Sec-Fetch-* and no
    // Origin from a plain-http page that is not on localhost, so a rebound page's GETs passed as a
    // script's and read /functions and the dead letters' bodies. A client without a Host (HTTP/1.0)
    // is no browser.
    if (headers.host !== undefined && !isLoopback(hostName(headers.host))) {
      return {
        ok: false,
        why: `a request for host "${headers.host}" on an admin API without a token`,
        hint: 'call it as http://127.0.0.1:PORT/ or http://localhost:PORT/ (a web page whose DNS name points at 127.0.0.1 is refused this way), or set WARREN_ADMIN_TOKEN',
      };
    }
    return { ok: true, via: 'open' };
  }
  if (headers.authorization !== undefined) {
    return authorized(headers.authorization, token) ? { ok: true, via: 'bearer' } : refused();
  }
  const session = cookiesOf(headers.cookie)[SESSION_COOKIE];
  if (session !== undefined && sameSecret(session, sessionValue(token))) return { ok: true, via: 'cookie' };
  return refused();
}

function refused(): Access {
  return { ok: false, why: 'missing or wrong bearer token', hint: 'send `Authorization: Bearer $WARREN_ADMIN_TOKEN`, or sign in on the dashboard' };
}

/** Why a state-changing request must be refused as a possible cross-site forgery, or null. */
export function forgeryRefusal(method: string, headers: IncomingHttpHeaders, via: 'open' | 'bearer' | 'cookie'): string | null {
  if (method === 'GET' || method === 'HEAD') return null;
  const site = header(headers['sec-fetch-site']);
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request may not change anything`;
  const origin = header(headers.origin);
  if (origin !== undefined && originHost(origin) !== headers.host) return `a request from origin ${origin} may not change anything`;
  // A bearer token is never sent by a browser on its own: such a request was written on purpose.
  if (via === 'bearer') return null;
  const browser = via === 'cookie' || origin !== undefined || site !== undefined || headers.cookie !== undefined;
  if (browser && header(headers[REQUEST_HEADER]) !== REQUEST_HEADER_VALUE)
    return `a browser request without the ${REQUEST_HEADER} header may not change anything`;
  return null;
}

/** The cookie value for a token: derived, so the cookie is not the token itself. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('warren dashboard session v1').digest('base64url');
}

export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${sessionValue(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MAX_AGE_S}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHmac('sha256', 'compare').update(given).digest();
  const b = createHmac('sha256', 'compare').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function cookiesOf(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

function hostName(host: string | undefined): string {
  if (!host) return '';
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function originHost(origin: string): string | null {
  try {
    return origin === 'null' ? null : new URL(origin).host;
  } catch {
    return null;
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
