/**
 * Where the admin API listens and who may call it (SPEC §7). Pure: the environment is passed in.
 * Loopback needs no token; any other address refuses to start without WARREN_ADMIN_TOKEN, and then
 * every request must carry it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { WarrenError } from '../errors';

export interface AdminBinding {
  host: string;
  port: number;
  /** null: loopback without a token, every request is accepted */
  token: string | null;
}

export const DEFAULT_ADMIN_HOST = '127.0.0.1';
export const DEFAULT_ADMIN_PORT = 8080;

export function resolveAdminBinding(env: Record<string, string | undefined>): AdminBinding {
  const host = env.WARREN_ADMIN_HOST?.trim() || DEFAULT_ADMIN_HOST;
  const port = parsePort(env.WARREN_ADMIN_PORT);
  const token = env.WARREN_ADMIN_TOKEN?.trim() || null;
  if (!token && !isLoopback(host)) {
    throw new WarrenError('WARREN_E_ADMIN_TOKEN', `the admin API would listen on ${host}, reachable from other machines, without a token`, {
      hint: 'set WARREN_ADMIN_TOKEN to a long random secret (clients send `Authorization: Bearer <token>`), or leave WARREN_ADMIN_HOST unset to listen on 127.0.0.1',
    });
  }
  return { host, port, token };
}

/** WARREN_ADMIN_PORT as the runtime and the CLI read it; a WarrenError (bad input) when it is no port. */
export function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_ADMIN_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new WarrenError('WARREN_E_ADMIN_ADDRESS', `WARREN_ADMIN_PORT must be a port number (0-65535), got "${raw}"`, {
      hint: `unset it to use ${DEFAULT_ADMIN_PORT}`,
    });
  }
  return port;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Constant-time check of an `Authorization` header against the token (hashing first makes lengths equal). */
export function authorized(header: string | undefined, token: string | null): boolean {
  if (token === null) return true;
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const given = createHash('sha256')
    .update(match?.[1]?.trim() ?? '')
    .digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected) && match !== null;
}

/** The address a client on this machine reaches a server bound to `host` at (a wildcard means loopback). */
export function clientHost(host: string): string {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === '0.0.0.0' || h === '') return '127.0.0.1';
  if (h === '::') return '::1';
  return h;
}
