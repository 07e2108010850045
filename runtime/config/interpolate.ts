/**
 * `${VAR}` and `${VAR:-default}` in queues.yaml and rascal.json, read from the environment passed in.
 * As in a shell, `:-` uses the default when the variable is unset or empty; `$${` writes a literal `${`.
 */

export type Env = Record<string, string | undefined>;

export interface Interpolated {
  value: string;
  /** names referenced without a default that have no value, with their offset in the input */
  missing: Array<{ name: string; offset: number }>;
  /** true when at least one `${…}` was replaced */
  changed: boolean;
}

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolate(input: string, env: Env): Interpolated {
  const missing: Interpolated['missing'] = [];
  let changed = false;
  const value = input.replace(REFERENCE, (whole: string, name: string | undefined, fallback: string | undefined, offset: number) => {
    changed = true;
    if (whole === '$${') return '${';
    const key = name ?? '';
    const set = env[key];
    if (fallback !== undefined) return set === undefined || set === '' ? fallback : set;
    if (set === undefined) {
      missing.push({ name: key, offset });
      return '';
    }
    return set;
  });
  return { value, missing, changed };
}

/** Whether a string holds something `interpolate` would replace. */
export function hasReference(input: string): boolean {
  return input.includes('${');
}
