/** Pure deep merge for rascal config fragments: plain objects merge key by key, `over` wins elsewhere. */

export type PlainObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is PlainObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A fresh object: `base` deep-copied with `over` laid on top. Neither input is changed. */
export function mergeDeep(base: PlainObject, over: PlainObject): PlainObject {
  const out: PlainObject = {};
  for (const [key, value] of Object.entries(base)) out[key] = copy(value);
  for (const [key, value] of Object.entries(over)) {
    const existing = out[key];
    out[key] = isPlainObject(existing) && isPlainObject(value) ? mergeDeep(existing, value) : copy(value);
  }
  return out;
}

function copy(value: unknown): unknown {
  if (isPlainObject(value)) return mergeDeep({}, value);
  if (Array.isArray(value)) return value.map(copy);
  return value;
}

/** `obj` without the given keys (shallow). */
export function omit(obj: PlainObject, keys: readonly string[]): PlainObject {
  const out: PlainObject = {};
  for (const [key, value] of Object.entries(obj)) if (!keys.includes(key)) out[key] = value;
  return out;
}
