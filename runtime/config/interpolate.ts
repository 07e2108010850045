/**
 * `${VAR}` and `${VAR:-default}` in queues.yaml and rascal.json, read from the environment passed in.
 * As in a shell, `:-` uses the default when the variable is unset or empty; `$${` writes a literal `${`.
 * Any other `${` (`${VAR-x}`, `${VAR`, `${}`) is refused rather than kept as text: it is a reference
 * written wrong far more often than a literal.
 */

export type Env = Record<string, string | undefined>;

export interface Interpolated {
  value: string;
  /** names referenced without a default that have no value, with their offset in the input */
  missing: Array<{ name: string; offset: number }>;
  /** `${` that starts no reference of the two forms, as written (up to its `}`), with its offset; kept as text */
  malformed: Array<{ text: string; offset: number }>;
  /** true when at least one `${…}` was replaced */
  changed: boolean;
  /** references replaced by a value: the variable's, or the default written after `:-` */
  used: Array<{ name: string; defaulted: boolean }>;
}

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

export function interpolate(input: string, env: Env): Interpolated {
  const missing: Interpolated['missing'] = [];
  const malformed: Interpolated['malformed'] = [];
  const used: Interpolated['used'] = [];
  let changed = false;
  const value = input.replace(REFERENCE, (whole: string, name: string | undefined, fallback: string | undefined, offset: number) => {
    if (whole === '$${') {
      changed = true;
      return '${';
    }
    if (name === undefined) {
      malformed.push({ text: whole, offset });
      return whole;
    }
    changed = true;
    const set = env[name];
    if (fallback !== undefined) {
      const defaulted = set === undefined || set === '';
      used.push({ name, defaulted });
      return defaulted ? fallback : set;
    }
    if (set === undefined) {
      missing.push({ name, offset });
      return '';
    }
    used.push({ name, defaulted: false });
    return set;
  });
  return { value, missing, malformed, changed, used };
}

/** The hint for a malformed reference: the two forms, and the likely meant one when it is plain. */
export function malformedHint(text: string): string {
  const meant = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:]?[-=?+])(.*)\}$/.exec(text);
  const guess = meant ? `did you mean \${${meant[1]}:-${meant[2]}}? ` : '';
  return `${guess}write \${VAR} or \${VAR:-default} (VAR: letters, digits and _, not starting with a digit); $\${ writes a literal \${`;
}

/** A malformed reference as the message shows it: `${VAR` runs to the end of its string, so cut it short. */
export function shownReference(text: string): string {
  return '`' + (text.length > 40 ? text.slice(0, 39) + '…' : text) + '`';
}

/** Whether a string holds something `interpolate` would replace. */
export function hasReference(input: string): boolean {
  return input.includes('${');
}
