/**
 * Every error a person can act on has a code from this catalogue (documented in README.md, and a
 * unit test checks that each code is). A `WarrenError` renders as
 *   queues.yaml:12:5 functions.print-message.replicas: expected an integer >= 0, got "two" (WARREN_E_CONFIG_TYPE)
 *     hint: write a number, e.g. `replicas: 2`
 */

/** Exit codes of every command (SPEC §6). */
export const EXIT = { OK: 0, RUNTIME: 1, BAD_INPUT: 2 } as const;

export interface ErrorEntry {
  /** what went wrong, in README's words (README's "Error codes" lists every code; a unit test checks it) */
  description: string;
  /** the admin API's status for it: bad input is 422, a runtime that cannot serve yet 503 */
  http: number;
  /** the CLI's exit code for it: the input is wrong (2) or the world is (1) */
  exit: (typeof EXIT)[keyof typeof EXIT];
}

/** The one catalogue: every code with its description, HTTP status and exit code. */
export const ERRORS = {
  WARREN_E_CONFIG_MISSING: { description: 'queues.yaml (or a file it names) does not exist', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_CONFIG_SYNTAX: { description: 'a YAML or JSON file does not parse', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_CONFIG_UNKNOWN_KEY: { description: 'a key Warren does not know (often a typo)', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_CONFIG_TYPE: { description: 'a value of the wrong type or out of range', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_CONFIG_REFERENCE: { description: 'a binding, output or function names an exchange or queue that is not declared', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_CONFIG_CONFLICT: {
    description: 'two settings that cannot hold together (two functions on one queue, ordered on a classic queue, a batch function with output)',
    http: 422,
    exit: EXIT.BAD_INPUT,
  },
  WARREN_E_CONFIG_ENV: {
    description: 'a ${VAR} with no value and no default, or a ${ that is neither ${VAR} nor ${VAR:-default}',
    http: 422,
    exit: EXIT.BAD_INPUT,
  },
  WARREN_E_HANDLER_MISSING: { description: 'a function whose handler file does not exist', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_HANDLER_BUILD: { description: 'esbuild could not build a handler file', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_HANDLER_EXPORT: { description: 'a handler file without a default export function', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_HANDLER_LOAD: { description: 'a handler file that throws while it loads (at import time)', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_SCHEMA_MISSING: { description: 'a schema file that does not exist or does not parse', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_SCHEMA_INVALID: { description: 'a JSON Schema that ajv cannot compile', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_TOPOLOGY_MISMATCH: { description: 'an exchange or queue already exists on the broker with other arguments', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_BROKER_UNREACHABLE: { description: 'no broker answers at the configured URL', http: 503, exit: EXIT.RUNTIME },
  WARREN_E_USAGE: { description: 'a command line that does not parse', http: 400, exit: EXIT.BAD_INPUT },
  WARREN_E_ADMIN_TOKEN: { description: 'the admin API is bound to a non-loopback address without WARREN_ADMIN_TOKEN', http: 422, exit: EXIT.BAD_INPUT },
  WARREN_E_ADMIN_UNREACHABLE: { description: 'no runtime answers on the admin API', http: 502, exit: EXIT.RUNTIME },
  WARREN_E_UNKNOWN_FUNCTION: { description: 'a command names a function that does not exist', http: 404, exit: EXIT.BAD_INPUT },
  WARREN_E_ADMIN_ADDRESS: {
    description: 'WARREN_ADMIN_HOST/WARREN_ADMIN_PORT is not a usable address (bad value, or the port is taken)',
    http: 422,
    exit: EXIT.BAD_INPUT,
  },
  WARREN_E_ADMIN_AUTH: { description: 'an admin API request without the right `Authorization: Bearer` token', http: 401, exit: EXIT.BAD_INPUT },
  WARREN_E_ADMIN_FORGERY: {
    description: 'a browser request that would change state came from another site or without the dashboard header',
    http: 403,
    exit: EXIT.BAD_INPUT,
  },
  WARREN_E_DEAD_LETTER_NOT_FOUND: { description: 'no dead letter with that message id in the dead-letter queue', http: 404, exit: EXIT.BAD_INPUT },
  WARREN_E_REPLAY_REFUSED: {
    description: 'a dead letter could not be replayed (its queue is gone, the broker refused or returned it); it stays in the dead-letter queue',
    http: 409,
    exit: EXIT.RUNTIME,
  },
  WARREN_E_DEAD_LETTERS_BUSY: {
    description: 'another process (a `warren dlq` command, another runtime) has held the dead-letter queue for a minute; nothing was changed',
    http: 409,
    exit: EXIT.RUNTIME,
  },
  WARREN_E_NOT_READY: { description: 'the runtime is not running yet (still connecting to the broker) or is stopping', http: 503, exit: EXIT.RUNTIME },
  WARREN_E_DEPLOY_FAILED: {
    description: 'the new version built but its replicas could not start; the old version keeps serving',
    http: 500,
    exit: EXIT.RUNTIME,
  },
  WARREN_E_DELAY: {
    description: 'a publish delay that is neither a duration nor whole milliseconds >= 0, or is longer than the delay ladder holds (about 36 h)',
    http: 422,
    exit: EXIT.BAD_INPUT,
  },
  WARREN_E_NOT_IMPLEMENTED: { description: 'an admin API route this build of Warren does not provide yet', http: 501, exit: EXIT.RUNTIME },
  WARREN_E_REPLICA_START: {
    description: 'no replica of a function could start (the replica log says why); after a deploy the old version keeps serving',
    http: 500,
    exit: EXIT.RUNTIME,
  },
  WARREN_E_NO_REPLY: {
    description: '`warren publish --wait-reply`: no reply came within the timeout (the request was published)',
    http: 504,
    exit: EXIT.RUNTIME,
  },
  WARREN_E_PUBLISH_FAILED: {
    description: 'the broker refused a published message (nack), closed the channel before confirming it, or returned it unroutable',
    http: 502,
    exit: EXIT.RUNTIME,
  },
  WARREN_E_INTERNAL: { description: 'an unexpected failure inside the runtime; its log has the details', http: 500, exit: EXIT.RUNTIME },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

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
    const { hint } = this.details;
    return `${this.located(relativeTo)} [${this.code}]` + (hint ? `\n  hint: ${hint}` : '');
  }

  /** `file:line:column key: message (expected …)`: where first, so a person (and an editor) can jump to it. */
  located(relativeTo?: string): string {
    const { file, line, column, key, expected } = this.details;
    let where = '';
    if (file) {
      const shown = relativeTo && file.startsWith(relativeTo + '/') ? file.slice(relativeTo.length + 1) : file;
      where = shown + (line ? `:${line}` + (column ? `:${column}` : '') : '') + ' ';
    }
    return where + (key ? `${key}: ` : '') + this.message + (expected ? ` (expected ${expected})` : '');
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

/**
 * Hide the password of an AMQP/HTTP URL, of every URL of a comma-separated list (a cluster's
 * AMQP_URL), and of a URL inside a text (an error message, a log field), before it reaches a person:
 * the one redaction Warren uses. Textual, not through `new URL`: a raw password holding `@ : / % # ?`
 * or a space is not a well-formed URL, and a parser would cut it at the wrong `@` or `#` and print the
 * rest. Everything between `user:` and the last `@` of each list entry goes, which hides too much
 * for a path or a text holding an `@`, never too little.
 */
export function redactUrl(url: string): string {
  return url
    .split(/,(?=\s*[a-z][a-z0-9+.-]*:\/\/)/i)
    .map(redactOne)
    .join(',');
}

function redactOne(url: string): string {
  // Without a scheme (`guest:secret@host`, a URL someone mistyped) the user info begins the string;
  // a scheme with one slash (`amqp:/guest:secret@host`) is kept as written.
  const oneSlash = /^\s*[a-z][a-z0-9+.-]*:\/(?!\/)/i.exec(url);
  const scheme = url.indexOf('://');
  const start = oneSlash ? oneSlash[0].length : scheme < 0 ? 0 : scheme + 3;
  const at = url.lastIndexOf('@');
  if (at < start) return url;
  const userinfo = url.slice(start, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return url;
  return `${url.slice(0, start)}${userinfo.slice(0, colon)}:***${url.slice(at)}`;
}
