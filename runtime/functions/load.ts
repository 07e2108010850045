import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WarrenError } from '../errors.js';
import type { Handler } from '../index.js';

/**
 * Imports a bundle made by buildHandler and returns its default export. Kept free of esbuild so a
 * replica's worker thread can import it without loading the bundler. Bundles are content-addressed,
 * so a new version is a new URL and Node's module cache never hands back an old one.
 */
export async function loadHandler(bundleFile: string, sourceFile: string): Promise<Handler> {
  // Stack traces then point at the handler's own file and line through the bundle's inline map.
  // Must be on before the import: Node reads a module's source map when it compiles it.
  process.setSourceMapsEnabled(true);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(bundleFile).href)) as { default?: unknown };
  } catch (err) {
    throw loadError(sourceFile, bundleFile, err);
  }
  const handler = pickHandler(mod.default);
  if (!handler) {
    // Where the file says `export default` (`const handler = 1; … export default handler;` was placed at line 1).
    const line = defaultExportLine(sourceFile);
    // A default export that is undefined as the file loads is there all the same: not "no default export".
    const found =
      mod.default === undefined && line !== undefined && 'default' in mod ? 'undefined: its value is not set yet when the file loads' : describe(mod.default);
    throw noDefaultFunction(sourceFile, found, { ...methodHint(mod.default), ...(line !== undefined ? { line } : {}) });
  }
  return handler;
}

/** The line of the source's `export default …` or `export { x as default }`; undefined when it has none or cannot be read. */
function defaultExportLine(sourceFile: string): number | undefined {
  let source: string;
  try {
    source = readFileSync(sourceFile, 'utf8');
  } catch {
    return undefined;
  }
  const at = source.split('\n').findIndex((l) => /^\s*export\s+default\b|^\s*export\s*\{[^}]*\bas\s+default\b/.test(l));
  return at >= 0 ? at + 1 : undefined;
}

/**
 * A handler file whose default export is not a function (`found` says what it is instead), as a replica
 * finds it on load and as the build finds it when the bundle alone tells (runtime/functions/bundle.ts).
 */
export function noDefaultFunction(file: string, found: string, at: { line?: number; hint?: string } = {}): WarrenError {
  return new WarrenError('WARREN_E_HANDLER_EXPORT', `${basename(file)} has no default export function (found ${found})`, {
    file,
    line: at.line ?? 1,
    hint: at.hint ?? 'add `export default async function handler(message, ctx) { … }`',
  });
}

/** A throw at import time, placed at the first line of the user's own code in its stack (source-mapped). */
function loadError(sourceFile: string, bundleFile: string, err: unknown): WarrenError {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new WarrenError('WARREN_E_HANDLER_LOAD', `${basename(sourceFile)} threw while loading: ${message}`, {
    ...throwSite(err, sourceFile, bundleFile),
    hint: 'code at the top level of a handler file runs when it loads: move work that can fail into the handler, or fix the cause',
    cause: err,
  });
}

/** `file:line:column` of the first stack frame in the user's code (not Node's, a package's or the bundle's), else the handler file. */
export function throwSite(err: unknown, sourceFile: string, bundleFile?: string): { file: string; line?: number; column?: number } {
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  for (const [, where, line, column] of stack.matchAll(/\(?(\S+?):(\d+):(\d+)\)?$/gm)) {
    const file = where?.startsWith('file://') ? fileURLToPath(where) : where;
    if (!file?.startsWith('/') || file.includes('/node_modules/') || file === bundleFile) continue;
    return { file, line: Number(line), column: Number(column) };
  }
  return { file: sourceFile };
}

/**
 * `export default fn` and `module.exports = fn` both arrive as the default export; TypeScript
 * compiled to CommonJS (`exports.default = fn` with `__esModule`) arrives one level deeper.
 */
function pickHandler(value: unknown): Handler | undefined {
  if (typeof value === 'function') return value as Handler;
  if (typeof value === 'object' && value !== null) {
    const inner = (value as { default?: unknown }).default;
    if (typeof inner === 'function') return inner as Handler;
  }
  return undefined;
}

/** Of the names a handler file exports (or its exported object holds), the one to make the default: `handler`, else the only one. */
export function functionToExport(names: readonly string[]): string | undefined {
  return names.find((n) => n === 'handler') ?? (names.length === 1 ? names[0] : undefined);
}

/** A default export that is an object holding the handler (another platform's shape): which function to export instead. */
function methodHint(value: unknown): { hint?: string } {
  if (typeof value !== 'object' || value === null) return {};
  const fn = functionToExport(Object.keys(value).filter((k) => typeof (value as Record<string, unknown>)[k] === 'function'));
  if (!fn) return {};
  return {
    hint: `Warren calls the default export itself, not a method of it: export ${fn} as the default (\`export default ${fn};\`, or \`module.exports = ${fn};\` in CommonJS)`,
  };
}

function describe(value: unknown): string {
  if (value === undefined) return 'no default export';
  if (value === null) return 'null';
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length > 0 ? `an object with ${keys.slice(0, 5).join(', ')}` : 'an empty object';
  }
  return `a ${typeof value}`;
}
