/**
 * Secrets kept out of every log line, the runtime's and the handlers' (`ctx.log`): a `password` or
 * `url` key at the top of a line or one object down, and any URL object there: a password is not
 * written at all, a URL without its credentials (./errors.ts `redactUrl`). pino's `redact` paths
 * (`password`, `*.password`, `url`, `*.url`) did this before, except that a password given as a
 * string was written as it was.
 *
 * Not pino's `redact`: to look one level down it deep-copied every object of the line, and a copy of
 * a Buffer, a typed array or a class with private fields cannot be written. A handler logging
 * `ctx.raw` got "[unable to serialize, circular reference is too complex to analyze]", and one
 * logging a URL object threw from the log call, failing its message. Here only a line that holds such
 * a key is copied, and only the object holding it, one level deep; every other value is written as
 * it is.
 */
import { redactUrl } from './errors';

type Fields = Record<string, unknown>;

const SECRET_KEYS = new Set(['password', 'url']);

/** The line's fields with secrets masked: the same object when there is nothing to mask. */
export function censorSecrets(fields: Fields): Fields {
  return maskFields(fields, true);
}

/**
 * `fields` with their `url`/`password` keys and URL values masked, and with `deeper`, each object
 * value one level down too; copied only when something is masked.
 */
function maskFields(fields: Fields, deeper: boolean): Fields {
  let out: Fields | null = null;
  for (const key in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) continue;
    const value = fields[key];
    const masked = SECRET_KEYS.has(key) ? maskSecret(key, value) : value instanceof URL ? redactUrl(value.href) : deeper ? maskInside(value) : value;
    if (masked === value) continue;
    out ??= { ...fields };
    out[key] = masked;
  }
  return out ?? fields;
}

/** A secret's value as written: a `url` without its password, a `password` (or anything else) not at all. */
function maskSecret(key: string, value: unknown): unknown {
  if (value === undefined) return value;
  if (key === 'url' && typeof value === 'string') return redactUrl(value);
  if (key === 'url' && value instanceof URL) return redactUrl(value.href);
  return '[redacted]';
}

/**
 * One object down: a copy with its secrets masked, or the value itself. An object whose getter
 * throws is left to pino, which writes it as a string saying it could not ("unable to serialize").
 */
function maskInside(value: unknown): unknown {
  try {
    return maskObject(value);
  } catch {
    return value;
  }
}

function maskObject(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  // A plain object: its own `url`/`password` keys and its URL values.
  if (proto === Object.prototype || proto === null) return maskFields(value as Fields, false);
  // Anything else (an Error, a class instance, a Buffer) is read for its own two keys only, never walked.
  const own = value as Fields;
  const hasUrl = Object.prototype.hasOwnProperty.call(own, 'url');
  const hasPassword = Object.prototype.hasOwnProperty.call(own, 'password');
  if (!hasUrl && !hasPassword) return value;
  // An Error keeps what pino's err serializer reads (message, stack, cause, its class) through its prototype.
  const copy = (value instanceof Error ? Object.create(value) : { ...own }) as Fields;
  if (hasUrl) copy.url = maskSecret('url', own.url);
  if (hasPassword) copy.password = maskSecret('password', own.password);
  return copy;
}
