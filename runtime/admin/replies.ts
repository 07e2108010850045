/** Admin API answers: JSON bodies, and every failure as `{error, code, hint}` with a fitting HTTP status. */
import { ERRORS, WarrenError, WarrenErrors, isErrorCode, type ErrorCode } from '../errors';

export interface Reply {
  status: number;
  /** serialised as JSON unless `text` is set */
  body?: unknown;
  text?: string;
  contentType?: string;
  /** extra response headers, e.g. `allow` on a 405 */
  headers?: Record<string, string>;
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

/**
 * An error answer; its status is the code's in the catalogue (runtime/errors.ts). `status` is given
 * only for what HTTP itself says about a request (no such path: 404, wrong method: 405).
 */
export function fail(code: ErrorCode, error: string, hint?: string, status: number = ERRORS[code].http): Reply {
  const body: ErrorBody = { error, code, ...(hint ? { hint } : {}) };
  return { status, body };
}

/** A thrown error as an answer: Warren's own errors keep their code and its status, anything else is a 500. */
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
    return { status: first ? ERRORS[first.code].http : 422, body };
  }
  if (err instanceof WarrenError) {
    return { status: ERRORS[err.code].http, body: describe(err, dir) };
  }
  const code = (err as { code?: unknown })?.code;
  if (isErrorCode(code)) return fail(code, (err as Error).message);
  return fail('WARREN_E_INTERNAL', (err as Error)?.message ?? String(err));
}

/** `functions/x.ts:5:17 message`: the location first, so a person (and an editor) can jump to it. */
function describe(e: WarrenError, dir?: string): NonNullable<ErrorBody['problems']>[number] {
  const { file, line, column, hint } = e.details;
  return {
    error: e.located(dir),
    code: e.code,
    ...(hint ? { hint } : {}),
    ...(file ? { file } : {}),
    ...(line ? { line } : {}),
    ...(column ? { column } : {}),
  };
}
