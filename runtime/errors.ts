/**
 * Every error a person can act on has a code from this catalogue (documented in README.md, and a
 * unit test checks that each code is). A `WarrenError` renders as
 *   queues.yaml:12:5 functions.print-message.replicas: expected an integer >= 0, got "two" (WARREN_E_CONFIG_TYPE)
 *     hint: write a number, e.g. `replicas: 2`
 */

export const ERROR_CODES = {
  WARREN_E_CONFIG_MISSING: 'queues.yaml (or a file it names) does not exist',
  WARREN_E_CONFIG_SYNTAX: 'a YAML or JSON file does not parse',
  WARREN_E_CONFIG_UNKNOWN_KEY: 'a key Warren does not know (often a typo)',
  WARREN_E_CONFIG_TYPE: 'a value of the wrong type or out of range',
  WARREN_E_CONFIG_REFERENCE: 'a binding, output or function names an exchange or queue that is not declared',
  WARREN_E_CONFIG_CONFLICT: 'two settings that cannot hold together (two functions on one queue, ordered on a classic queue, batch with output or ordered)',
  WARREN_E_CONFIG_ENV: 'a ${VAR} with no value and no default',
  WARREN_E_HANDLER_MISSING: 'a function whose handler file does not exist',
  WARREN_E_HANDLER_BUILD: 'esbuild could not build a handler file',
  WARREN_E_HANDLER_EXPORT: 'a handler file without a default export function',
  WARREN_E_SCHEMA_MISSING: 'a schema file that does not exist or does not parse',
  WARREN_E_SCHEMA_INVALID: 'a JSON Schema that ajv cannot compile',
  WARREN_E_TOPOLOGY_MISMATCH: 'an exchange or queue already exists on the broker with other arguments',
  WARREN_E_BROKER_UNREACHABLE: 'no broker answers at the configured URL',
  WARREN_E_USAGE: 'a command line that does not parse',
  WARREN_E_ADMIN_TOKEN: 'the admin API is bound to a non-loopback address without WARREN_ADMIN_TOKEN',
  WARREN_E_ADMIN_UNREACHABLE: 'no runtime answers on the admin API',
  WARREN_E_UNKNOWN_FUNCTION: 'a command names a function that does not exist',
  WARREN_E_ADMIN_ADDRESS: 'WARREN_ADMIN_HOST/WARREN_ADMIN_PORT is not a usable address (bad value, or the port is taken)',
  WARREN_E_ADMIN_AUTH: 'an admin API request without the right `Authorization: Bearer` token',
  WARREN_E_NOT_READY: 'the runtime is not running yet (still connecting to the broker) or is stopping',
  WARREN_E_DEPLOY_FAILED: 'the new version built but its replicas could not start; the old version keeps serving',
  WARREN_E_NOT_IMPLEMENTED: 'an admin API route this build of Warren does not provide yet',
  WARREN_E_INTERNAL: 'an unexpected failure inside the runtime; its log has the details',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetails {
  file?: string;
  line?: number;
  column?: number;
  /** dotted path of the offending key, e.g. `functions.print-message.replicas` */
  key?: string;
  expected?: string;
  hint?: string;
  cause?: unknown;
}

export class WarrenError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'WarrenError';
    this.code = code;
    this.details = details;
  }

  /** One or two lines a person can act on; never a stack trace. */
  format(relativeTo?: string): string {
    const { file, line, column, key, expected, hint } = this.details;
    let where = '';
    if (file) {
      const shown = relativeTo && file.startsWith(relativeTo + '/') ? file.slice(relativeTo.length + 1) : file;
      where = shown + (line ? `:${line}` + (column ? `:${column}` : '') : '') + ' ';
    }
    const what = (key ? `${key}: ` : '') + this.message + (expected ? ` (expected ${expected})` : '');
    return `${where}${what} [${this.code}]` + (hint ? `\n  hint: ${hint}` : '');
  }
}

/** Several problems found at once (`warren check` lists them all). */
export class WarrenErrors extends Error {
  readonly errors: readonly WarrenError[];
  constructor(errors: readonly WarrenError[]) {
    super(`${errors.length} problem${errors.length === 1 ? '' : 's'} found:\n` + errors.map((e) => e.format()).join('\n'));
    this.name = 'WarrenErrors';
    this.errors = errors;
  }
  format(relativeTo?: string): string {
    return this.errors.map((e) => e.format(relativeTo)).join('\n');
  }
}

/** Exit codes of every command (SPEC §6). */
export const EXIT = { OK: 0, RUNTIME: 1, BAD_INPUT: 2 } as const;

/** Hide the password of an AMQP/HTTP URL before it reaches a log line. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  }
}
