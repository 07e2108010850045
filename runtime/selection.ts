/**
 * What a runtime runs of its project: all of it, or `start --only a,b`'s functions, with `--replicas N`
 * applied; and what it answers about a function of the project it does not run.
 */
import { functionNamed, type WarrenConfig } from './config/types';
import { WarrenError } from './errors';

/** The answer to a command naming a function of the project that a runtime started with `--only` does not run. */
export function notRunHere(name: string, only: readonly string[]): WarrenError {
  return new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `function ${name} is not run by this runtime (started with --only ${only.join(',')})`, {
    hint: 'reach the runtime that runs it: set WARREN_ADMIN_HOST/WARREN_ADMIN_PORT to its admin address',
  });
}

export function checkOnly(config: WarrenConfig, only: readonly string[] | undefined): void {
  const unknown = (only ?? []).filter((name) => !functionNamed(config, name));
  if (unknown.length) {
    throw new WarrenError('WARREN_E_UNKNOWN_FUNCTION', `--only names ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not a function`, {
      hint: `functions: ${Object.keys(config.functions).join(', ') || '(none)'}`,
    });
  }
}

/** What this runtime runs of the project: `--only`'s functions (all without it), `--replicas` applied, `leftOut` left out. */
export function selectFunctions(
  config: WarrenConfig,
  { only, replicas }: { only?: readonly string[] | undefined; replicas?: number | undefined },
  leftOut: ReadonlySet<string> = new Set(),
): WarrenConfig {
  const functions = Object.entries(config.functions)
    .filter(([name]) => !leftOut.has(name) && (!only?.length || only.includes(name)))
    .map(([name, fn]) => [name, replicas === undefined ? fn : Object.freeze({ ...fn, replicas })] as const);
  // `--only a,b` runs them in that order.
  if (only?.length) functions.sort(([a], [b]) => only.indexOf(a) - only.indexOf(b));
  return Object.freeze({ ...config, functions: Object.freeze(Object.fromEntries(functions)) });
}
