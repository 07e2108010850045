/**
 * How `status`, `scale`, `deploy` (and `dlq`) reach a running runtime: its admin HTTP API at
 * WARREN_ADMIN_HOST:WARREN_ADMIN_PORT, with WARREN_ADMIN_TOKEN as the bearer token when set.
 */
import { resolve } from 'node:path';
import { EXIT, WarrenError, isErrorCode, type ErrorCode } from '../errors';
import { DEFAULT_ADMIN_HOST, clientHost, parsePort } from '../admin/auth';
import { reportFailure } from './common';
import { projectFolderProblem } from '../config/project-folder';

/** An error answer of the admin API; the HTTP status decides the exit code (4xx bad input, else runtime). */
export class AdminError extends WarrenError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    hint?: string,
  ) {
    super(code, message, hint ? { hint } : {});
  }
}

export interface AdminClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown, options?: { timeoutMs?: number }): Promise<T>;
  delete<T>(path: string): Promise<T>;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** /healthz answers at once from any runtime, however busy its functions */
const PROBE_TIMEOUT_MS = 5_000;

export function adminBaseUrl(env: Record<string, string | undefined>): string {
  const host = clientHost(env.WARREN_ADMIN_HOST?.trim() || DEFAULT_ADMIN_HOST);
  // read as the runtime reads it: `abc` is bad input (exit 2), not a runtime that does not answer
  const port = parsePort(env.WARREN_ADMIN_PORT);
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function createAdminClient(env: Record<string, string | undefined> = process.env): AdminClient {
  const token = env.WARREN_ADMIN_TOKEN?.trim();

  async function request<T>(method: string, path: string, body: unknown, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    // Read here, inside each command's error handling, rather than when the client is made.
    const baseUrl = adminBaseUrl(env);
    // A request that may rightly take minutes (a deploy) first asks /healthz, which answers at once:
    // a process holding the port that never answers (not Warren) held `warren deploy` for 10 minutes.
    if (timeoutMs > DEFAULT_TIMEOUT_MS && path !== '/healthz') await request('GET', '/healthz', undefined, PROBE_TIMEOUT_MS);
    let res: Response;
    try {
      res = await fetch(baseUrl + path, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      if ((err as Error).name === 'TimeoutError') {
        throw new WarrenError('WARREN_E_ADMIN_UNREACHABLE', `the runtime at ${baseUrl} did not answer ${method} ${path} within ${timeoutMs / 1000}s`, {
          hint:
            path === '/healthz'
              ? 'something accepts connections there but does not answer as a Warren runtime: is WARREN_ADMIN_PORT the runtime’s?'
              : 'it may still be working; check its log and `warren status`',
        });
      }
      throw new WarrenError('WARREN_E_ADMIN_UNREACHABLE', `no Warren runtime answers at ${baseUrl} (${cause})`, {
        hint: 'start one with `warren start`, or set WARREN_ADMIN_HOST/WARREN_ADMIN_PORT to where it listens',
      });
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const answer = (parsed ?? {}) as { error?: unknown; code?: unknown; hint?: unknown };
      const code = isErrorCode(answer.code) ? answer.code : 'WARREN_E_ADMIN_UNREACHABLE';
      const message = typeof answer.error === 'string' ? answer.error : `${method} ${path} answered ${res.status} ${text.slice(0, 200)}`;
      let hint = typeof answer.hint === 'string' ? answer.hint : undefined;
      if (res.status === 401) hint = token ? 'WARREN_ADMIN_TOKEN differs from the runtime’s' : 'set WARREN_ADMIN_TOKEN to the runtime’s token';
      throw new AdminError(res.status, code, message, hint);
    }
    // Something else listens there (another service on the port, a proxy's HTML page).
    if (parsed === null || typeof parsed !== 'object') {
      throw new WarrenError(
        'WARREN_E_ADMIN_UNREACHABLE',
        `${baseUrl} answered ${method} ${path} with something other than a Warren reply: ${JSON.stringify(text.slice(0, 80))}`,
        {
          hint: 'is WARREN_ADMIN_PORT the port of a Warren runtime?',
        },
      );
    }
    return parsed as T;
  }

  return {
    get: (path) => request('GET', path, undefined),
    post: (path, body, options) => request('POST', path, body ?? {}, options?.timeoutMs),
    delete: (path) => request('DELETE', path, undefined),
  };
}

/** Print a failure; an admin API answer decides the exit code by its status (4xx: 2, else 1). */
export function reportAdminFailure(err: unknown): number {
  if (err instanceof AdminError) {
    process.stderr.write(`warren: ${err.format()}\n`);
    return err.status >= 400 && err.status < 500 ? EXIT.BAD_INPUT : EXIT.RUNTIME;
  }
  return reportFailure(err);
}

export function functionPath(name: string, action?: string): string {
  return `/functions/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;
}

/** `--dir` as every command takes it; these commands reach the runtime through its admin API. */
export const DIR_OPTION = ['--dir <dir>', 'project folder (as for every command; the runtime is reached at WARREN_ADMIN_HOST:WARREN_ADMIN_PORT)'] as const;

/** A `--dir` that names no folder is a typo worth saying, as every other command does. */
export async function checkProjectDir(dir: string | undefined): Promise<void> {
  if (dir === undefined) return;
  const problem = await projectFolderProblem(resolve(dir));
  if (problem) throw problem;
}
