/**
 * A value of queues.yaml that `${VAR}` gave and that is wrong: the line shows `${PREFETCH}`, not the
 * `abc` the check complains of, and the fix is in the environment, not in the file. Each problem
 * found at such a value says which variable it came from, and that hint comes first.
 */
import { WarrenError } from '../errors';
import type { Located } from './source';

export function fromEnvironment(errors: readonly WarrenError[], file: string, at: ReadonlyMap<string, Located>): WarrenError[] {
  const origins = new Map<string, NonNullable<Located['from']>>();
  for (const located of at.values()) if (located.from) origins.set(`${located.value.line}:${located.value.column}`, located.from);
  if (origins.size === 0) return [...errors];
  return errors.map((e) => {
    const { file: where, line, column, hint } = e.details;
    const from = where === file && e.code !== 'WARREN_E_CONFIG_ENV' ? origins.get(`${line}:${column}`) : undefined;
    if (!from) return e;
    const names = [...new Set(from.map((f) => f.name))];
    const variables = names.map((n) => `\${${n}}`).join(', ');
    const setThem = names.join(' and ');
    const defaulted = from.filter((f) => f.defaulted).map((f) => f.name);
    const said = defaulted.length
      ? `the value comes from the default written in ${variables} (${[...new Set(defaulted)].join(', ')} unset): fix the default after \`:-\`, or set ${setThem}`
      : `the value comes from the environment (${variables}): set ${setThem} to what this key takes`;
    return new WarrenError(e.code, e.message, { ...e.details, hint: hint ? `${said}; ${hint}` : said });
  });
}
