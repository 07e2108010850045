/** Admin API answers: JSON bodies, and every failure as `{error, code, hint}` with a fitting HTTP status. */
import { WarrenError, WarrenErrors, type ErrorCode } from '../errors';

export interface Reply {
  status: number;
  /** serialised as JSON unless `text` is set */
  body?: unknown;
  text?: string;
  contentType?: string;
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  hint?: string;
  /** every problem, when there were several (a build that failed in more than one place) */
  problems?: Array<{ error: string; code: ErrorCode; hint?: string; file?: string; line?: number; column?: number }>;
}

export function ok(body: unknown, status = 200): Reply {
  return { status, body };
}

export function fail(status: number, code: ErrorCode, error: string, hint?: string): Reply {
  const body: ErrorBody = { error, code, ...(hint ? { hint } : {}) };
  return { status, body };
}

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  WARREN_E_USAGE: 400,
  WARREN_E_ADMIN_AUTH: 401,
  WARREN_E_ADMIN_FORGERY: 403,
  WARREN_E_DEAD_LETTER_NOT_FOUND: 404,
  WARREN_E_UNKNOWN_FUNCTION: 404,
  WARREN_E_NOT_IMPLEMENTED: 501,
  WARREN_E_NOT_READY: 503,
  WARREN_E_BROKER_UNREACHABLE: 503,
  WARREN_E_DEPLOY_FAILED: 500,
};

/** A thrown error as an answer: Warren's own errors keep their code (bad input → 422), anything else is a 500. */
export function errorReply(err: unknown, dir?: string): Reply {
  if (err instanceof WarrenErrors) {
    const problems = err.errors.map((e) => describe(e, dir));
    const first = problems[0];
    const body: ErrorBody = {
      error: problems.map((p) => p.error).join('\n'),
      code: first?.code ?? 'WARREN_E_HANDLER_BUILD',
      ...(problems.length === 1 && first?.hint ? { hint: first.hint } : {}),
      problems,
    };
    return { status: 422, body };
  }
  if (err instanceof WarrenError) {
    return { status: STATUS_BY_CODE[err.code] ?? 422, body: describe(err, dir) };
  }
  const code = (err as { code?: unknown })?.code;
  if (code === 'WARREN_E_UNKNOWN_FUNCTION') return fail(404, code, (err as Error).message);
  return fail(500, 'WARREN_E_INTERNAL', (err as Error)?.message ?? String(err));
}

/** `functions/x.ts:5:17 message`: the location first, so a person (and an editor) can jump to it. */
function describe(e: WarrenError, dir?: string): NonNullable<ErrorBody['problems']>[number] {
  const { file, line, column, key, hint } = e.details;
  let where = '';
  if (file) {
    const shown = dir && file.startsWith(dir + '/') ? file.slice(dir.length + 1) : file;
    where = shown + (line ? `:${line}` + (column ? `:${column}` : '') : '') + ' ';
  }
  return {
    error: `${where}${key ? `${key}: ` : ''}${e.message}`,
    code: e.code,
    ...(hint ? { hint } : {}),
    ...(file ? { file } : {}),
    ...(line ? { line } : {}),
    ...(column ? { column } : {}),
  };
}
