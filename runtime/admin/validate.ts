/**
 * Checks of admin API input, pure and small so every route can use them: each returns the value, or
 * the 400 answer a client gets for it (a JSON error with a hint, never a 500). JSON bodies must carry
 * real numbers: `[]`, `false` and `"3"` are not numbers, even though `Number()` would make them ones.
 */
import { fail, type Reply } from './replies';

export function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && 'status' in value && typeof (value as Reply).status === 'number';
}

export interface IntegerRule {
  min: number;
  max: number;
  /** shown in the hint, e.g. `{"replicas": 3}` */
  example: string;
}

/**
 * An integer field of a JSON body (`{"replicas": 3}`) or, when the body does not have it, of the
 * query string (`?replicas=3`: digits only). `undefined` when neither gives one.
 */
export function integerField(body: unknown, query: URLSearchParams, name: string, rule: IntegerRule): number | undefined | Reply {
  const fromBody = isObject(body) && Object.hasOwn(body, name) ? body[name] : undefined;
  if (fromBody !== undefined) return integerValue(fromBody, name, rule);
  const fromQuery = query.get(name);
  if (fromQuery === null) return undefined;
  if (!/^\d{1,15}$/.test(fromQuery.trim())) return outOfRange(name, fromQuery, rule);
  return integerValue(Number(fromQuery), name, rule);
}

function integerValue(value: unknown, name: string, rule: IntegerRule): number | Reply {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) return outOfRange(name, value, rule);
  return value;
}

function outOfRange(name: string, value: unknown, rule: IntegerRule): Reply {
  // JSON.parse reads 1e400 as Infinity, which JSON.stringify would show as null.
  const got = typeof value === 'number' && !Number.isFinite(value) ? `${String(value)}: not a finite whole number` : shown(value);
  return fail('WARREN_E_USAGE', `${name} must be an integer from ${rule.min} to ${rule.max}, got ${got}`, `send ${rule.example}`);
}

/**
 * A JSON body that must be an object when given (`[1]`, `"x"` and `3` are not requests). `example`:
 * the route's body, for the hint.
 */
export function objectBody(body: unknown, example = '{"replicas": 3}'): Record<string, unknown> | undefined | Reply {
  if (body === undefined) return undefined;
  if (isObject(body)) return body;
  return fail('WARREN_E_USAGE', `the request body must be a JSON object, got ${shown(body)}`, `send a JSON object, e.g. ${example}`);
}

/**
 * A body with no key but `known`: a misspelt or unsupported option is refused, not ignored (a replay
 * or a purge that dropped a misspelt `limit` or `keys` would act on every dead letter).
 */
export function onlyKeys(body: Record<string, unknown> | undefined, known: readonly string[], example: string): Reply | undefined {
  const unknown = Object.keys(body ?? {}).filter((key) => !known.includes(key));
  if (unknown.length === 0) return undefined;
  const names = unknown.map((key) => shown(key)).join(', ');
  return fail(
    'WARREN_E_USAGE',
    `unknown ${unknown.length === 1 ? 'key' : 'keys'} ${names} in the request body`,
    known.length === 0
      ? `this route takes no options: send ${example}`
      : `the body takes ${known.map((key) => JSON.stringify(key)).join(', ')} only: send ${example}`,
  );
}

/** A route that takes no options (a purge, a deploy): no body, `{}`, or a 400 naming what was sent. */
export function noOptions(body: unknown): Reply | undefined {
  const parsed = objectBody(body, '{}');
  if (isReply(parsed)) return parsed;
  return onlyKeys(parsed, [], 'no body');
}

/**
 * The hint for a request body that is not JSON: the example of the route the path names, so a deploy
 * is not told to send a replica count.
 */
export function bodyHint(path: string): string {
  if (/^\/functions\/[^/]+\/scale$/.test(path)) return 'send a JSON object, e.g. {"replicas": 3}';
  if (/^\/functions\/[^/]+\/dead-letters\/replay$/.test(path)) return 'send a JSON object, e.g. {"limit": 10} or {"keys": ["id-1"]}';
  if (/^\/functions\/[^/]+\/dead-letters\/[^/]+\/replay$/.test(path)) return 'send a JSON object, e.g. {"body": "{\\"id\\": 1}"}, or no body';
  return 'send no body (or a JSON object): this route takes no options';
}

/** Longest function name the API takes: a queue name is at most 255 bytes. */
const MAX_NAME_BYTES = 255;

/** The function name of a path segment, percent-decoded; a malformed escape is the client's mistake (400). */
export function functionName(segment: string): string | Reply {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    return fail('WARREN_E_USAGE', `the function name in the path is not valid percent-encoding: ${shown(segment)}`, 'encode the name with encodeURIComponent');
  }
  if (name === '' || Buffer.byteLength(name) > MAX_NAME_BYTES || /[\u0000-\u001f\u007f]/.test(name)) {
    return fail(
      'WARREN_E_USAGE',
      `${shown(name)} is not a function name`,
      'a function name is its handler file name, at most 255 bytes, without control characters',
    );
  }
  return name;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value for an error message: JSON, cut short (a client may send megabytes). */
function shown(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
