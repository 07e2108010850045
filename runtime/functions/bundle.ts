import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildFailure, type BuildOptions, type Message, type Plugin } from 'esbuild';
import { WarrenError } from '../errors.js';
import { runtimeEntry } from './package-root.js';
import { functionToExport, noDefaultFunction } from './load.js';

export interface BuildHandlerOptions {
  /** the handler file (.ts, .mts, .js, .mjs, .cjs) */
  file: string;
  /** the function's name; the bundle is `<outDir>/<name>-<version>.mjs` */
  name: string;
  outDir: string;
}

export interface BuiltHandler {
  /** absolute path of the ESM bundle, content-addressed */
  bundleFile: string;
  /** first 12 hex characters of the sha256 of the bundle */
  version: string;
  /** esbuild warnings, each as `file:line:column: text` */
  warnings: string[];
}

/** What to do about esbuild's first error (whether an old version keeps serving is the caller's to say). */
function buildHint(text: string | undefined): string {
  const missing = text && /^Could not resolve "([^"]+)"/.exec(text)?.[1];
  if (missing && /^[^./]/.test(missing))
    return `install it in the project (npm install ${missing.startsWith('@') ? missing.split('/').slice(0, 2).join('/') : missing.split('/')[0]}), or fix the import`;
  // The README's examples live in this repository's functions/; a project of its own imports the runtime as `warren`.
  if (missing && /^(\.\.\/)+runtime(\/index(\.ts)?)?$/.test(missing))
    return "outside Warren's own repository, import the runtime's types and Reject from 'warren': import { Reject, type Handler } from 'warren'";
  if (missing) return 'fix the import path: no such file next to the handler';
  if (text && /No loader is configured/.test(text))
    return 'a handler is a .ts, .mts, .js or .mjs file in functions/ (or a .cts or .cjs one named by `handler:`)';
  return 'fix the error at this line';
}

/**
 * Bundles one handler file into one ESM file for Node 20. `warren` resolves to this runtime's
 * runtime/index.ts; npm packages stay external but are pinned to the file they resolve to from the
 * handler's folder, so the bundle loads the same package wherever `outDir` is. Runs esbuild in
 * process (its one service child is shared by every build), so many builds may run in parallel.
 */
export async function buildHandler(opts: BuildHandlerOptions): Promise<BuiltHandler> {
  const file = resolve(opts.file);
  const outDir = resolve(opts.outDir);
  const base = bundleOptions(file, join(outDir, `${opts.name}.mjs`));

  let text: string;
  let warnings: Message[];
  let exported: string[];
  let commonJs: boolean;
  try {
    let result = await build(base);
    // A CommonJS handler that calls require() needs a real `require` inside the ESM bundle.
    if (outputText(result.outputFiles).includes('__require(')) result = await build({ ...base, banner: { js: REQUIRE_BANNER } });
    text = outputText(result.outputFiles);
    warnings = result.warnings;
    exported = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.exports ?? [];
    commonJs = Object.entries(result.metafile.inputs).some(([path, input]) => input.format === 'cjs' && resolve(dirname(file), path) === file);
  } catch (err) {
    throw buildError(file, opts.name, err);
  }
  // Known without running it: `check`, `start` and `deploy` refuse it as they refuse a syntax error.
  // (A CommonJS `module.exports` is a default export; whether it is a function, loadHandler says,
  // except in the shapes known from the source: Lambda's `exports.handler = …` and nothing else, or
  // `module.exports = { … }`.) The source is read once, when a check needs it.
  let source: string | undefined;
  const read = async (): Promise<string> => (source ??= await readFile(file, 'utf8'));
  if (!exported.includes('default')) throw noDefaultExport(file, exported, await read());
  if (commonJs) {
    const named = onlyNamedExports(await read());
    if (named) throw noDefaultExport(file, named, await read(), true);
    const keys = objectModuleExports(await read());
    if (keys) throw objectNotAFunction(file, keys, await read());
  }
  const literal = commonJs ? undefined : literalDefault(text);
  if (literal) throw notAFunction(file, literal, await read());

  const version = createHash('sha256').update(text).digest('hex').slice(0, 12);
  // A name near RabbitMQ's 255 bytes would make a file name over the file system's 255: hashed instead.
  const stem = Buffer.byteLength(opts.name) <= 100 ? opts.name : createHash('sha256').update(opts.name).digest('hex').slice(0, 16);
  const bundleFile = join(outDir, `${stem}-${version}.mjs`);
  await writeAtomically(bundleFile, text);
  return { bundleFile, version, warnings: warnings.map((w) => formatMessage(file, w)) };
}

const REQUIRE_BANNER = "import { createRequire as __warrenCreateRequire } from 'node:module'; const require = __warrenCreateRequire(import.meta.url);";

function bundleOptions(file: string, outfile: string): BuildOptions & { write: false; metafile: true } {
  return {
    entryPoints: [file],
    absWorkingDir: dirname(file),
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Inline so the bundle is one file; Node maps stack traces back to the handler's own lines
    // once source maps are enabled (loadHandler does that).
    sourcemap: 'inline',
    sourcesContent: false,
    logLevel: 'silent',
    metafile: true,
    plugins: [warrenResolver(runtimeEntry())],
  };
}

const RESOLVING = Symbol('warren.resolving');

/** Maps `warren` to the runtime and keeps npm packages external, pinned to their resolved files. */
function warrenResolver(entry: string): Plugin {
  return {
    name: 'warren-resolver',
    setup(b) {
      b.onResolve({ filter: /^warren$/ }, () => ({ path: entry }));
      // bare specifiers only: packages, built-ins, tsconfig path aliases
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === RESOLVING) return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const found = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: RESOLVING,
        });
        if (found.errors.length > 0) {
          // A static import of a missing package is a build error; a guarded require() or import()
          // of an optional one is left for Node to settle at run time.
          if (args.kind === 'import-statement' || args.kind === 'entry-point') return { errors: found.errors };
          return { path: args.path, external: true };
        }
        if (found.external) return { path: found.path, external: true };
        // a tsconfig path alias or a linked workspace folder is the user's own source: bundle it
        if (!found.path.includes('/node_modules/')) return { path: found.path };
        // require() takes a path, import takes a URL.
        const pinned = args.kind === 'require-call' || args.kind === 'require-resolve' ? found.path : pathToFileURL(found.path).href;
        return { path: pinned, external: true };
      });
    },
  };
}

function noDefaultExport(file: string, exported: string[], source: string, commonJs = false): WarrenError {
  const named = exported.length > 0 ? `named export${exported.length === 1 ? '' : 's'} ${exported.slice(0, 5).join(', ')}` : 'no export';
  const fn = functionToExport(exported);
  const exportIt = commonJs
    ? `\`module.exports = exports.${fn};\` at the end of the file (Warren runs module.exports, not a named export as Lambda does)`
    : `\`export default ${fn};\``;
  const line = exportLine(source, fn);
  return noDefaultFunction(file, named, { ...(fn ? { hint: `export it as the default: ${exportIt}` } : {}), ...(line ? { line } : {}) });
}

/** The line of the export to make the default (the one naming `name`, else the first export); undefined without one. */
function exportLine(source: string, name: string | undefined): number | undefined {
  const lines = source.split('\n');
  const named = name ? new RegExp(`^\\s*(export\\b.*[\\s{,]${name.replace(/\$/g, '\\$')}\\b|exports\\.${name.replace(/\$/g, '\\$')}\\b)`) : null;
  const at = named ? lines.findIndex((l) => named.test(l)) : -1;
  const first = at >= 0 ? at : lines.findIndex((l) => /^\s*(export\b|module\.exports\b|exports\.)/.test(l));
  return first >= 0 ? first + 1 : undefined;
}

/**
 * What the bundle's default export is, when esbuild's output shows it is a literal and so not a function
 * (`export default 42`, `export default { async queue(batch) {} }`, as another platform's handler object
 * would be): `a number`, `an object literal`, …. Undefined whenever it may be a function (an identifier, a
 * call, a class, an object that has a `default`, which loadHandler accepts), left for loadHandler to say.
 */
export function literalDefault(bundle: string): string | undefined {
  const exported = /\bexport\s*\{[^}]*?\b([A-Za-z_$][\w$]*) as default\b[^}]*\};?\s*(?:\/\/# sourceMappingURL=\S*\s*)?$/.exec(bundle);
  if (!exported) return undefined;
  const name = exported[1]!.replace(/\$/g, '\\$');
  const declared = new RegExp(`^var ${name} = `, 'm').exec(bundle);
  if (!declared) return undefined;
  const init = bundle.slice(declared.index + declared[0].length, exported.index);
  // Named again after its declaration (reassigned, say): its value at export is not the literal's.
  if (new RegExp(`(?<![\\w$.])${name}(?![\\w$])`).test(init)) return undefined;
  if (/^-?(?:\d|\.\d)/.test(init)) return 'a number';
  if (/^["'`]/.test(init)) return 'a string';
  if (/^(?:true|false)\b/.test(init)) return 'a boolean';
  if (/^null\b/.test(init)) return 'null';
  if (init.startsWith('[')) return 'an array';
  if (init.startsWith('{') && !/\bdefault\b/.test(init)) return 'an object literal';
  return undefined;
}

function notAFunction(file: string, found: string, source: string): WarrenError {
  const at = /^[ \t]*export\s+default\b/m.exec(source);
  const line = at ? source.slice(0, at.index).split('\n').length : 1;
  if (found !== 'an object literal') return noDefaultFunction(file, found, { line });
  const hint =
    'Warren calls the default export itself, not a method of it: export the handler function, e.g. `export default async function handler(message, ctx) { … }`';
  return noDefaultFunction(file, found, { line, hint });
}

/**
 * The names a CommonJS file assigns (`exports.handler = …`, `module.exports.x = …`) when it assigns
 * neither `module.exports` itself nor a default: then its default export is an object, never a
 * function. Undefined when unsure (a file that may export a function is left for loadHandler).
 */
export function onlyNamedExports(source: string): string[] | undefined {
  if (/\bmodule\.exports\s*=(?!=)/.test(source)) return undefined;
  if (/\bexports\s*(?:\.\s*default|\[\s*['"]default['"]\s*\])\s*=(?!=)|\bexports\s*,\s*['"]default['"]/.test(source)) return undefined;
  const names = [...source.matchAll(/\b(?:module\.)?exports\.([A-Za-z_$][\w$]*)\s*=(?!=)/g)].map((m) => m[1]!);
  return names.length > 0 ? [...new Set(names)] : undefined;
}

/**
 * The top-level keys of the object literal a CommonJS file assigns to `module.exports`, when that is
 * its one assignment of it and of any default (`module.exports = { handler: async () => … }`, as
 * another platform's handler object): its default export is then that object, never a function.
 * Undefined when unsure: another assignment, a `default` key (which a replica takes), an object
 * whose braces this reading cannot match.
 */
export function objectModuleExports(source: string): string[] | undefined {
  const assignments = [...source.matchAll(/\bmodule\.exports\s*=(?!=)/g)];
  if (assignments.length !== 1 || /\bexports\s*(?:\.\s*default|\[\s*['"]default['"]\s*\])\s*=(?!=)/.test(source)) return undefined;
  const start = /^\s*\{/.exec(source.slice(assignments[0]!.index! + assignments[0]![0].length));
  if (!start) return undefined;
  const keys: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let expectKey = false;
  for (let i = assignments[0]!.index! + assignments[0]![0].length + start[0].length - 1; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '{' || c === '[' || c === '(') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']' || c === ')') {
      depth--;
      if (depth === 0) return keys.includes('default') ? undefined : keys;
    } else if (c === ',' && depth === 1) expectKey = true;
    else if (expectKey && depth === 1 && /[A-Za-z_$]/.test(c)) {
      const key = /^(?:async\s+)?([A-Za-z_$][\w$]*)/.exec(source.slice(i))!;
      keys.push(key[1]!);
      i += key[0].length - 1;
      expectKey = false;
    } else if (expectKey && !/\s/.test(c)) expectKey = false;
  }
  return undefined;
}

/** `module.exports = { … }`: an object, not the handler; the hint names the function in it to export. */
function objectNotAFunction(file: string, keys: readonly string[], source: string): WarrenError {
  const found = keys.length > 0 ? `an object with ${keys.slice(0, 5).join(', ')}` : 'an empty object';
  const fn = functionToExport(keys);
  const hint = fn
    ? `Warren calls module.exports itself, not a method of it: export the function, e.g. \`module.exports = ${fn};\` with ${fn} defined above it`
    : 'Warren calls module.exports itself: assign it the handler function, e.g. `module.exports = async (message, ctx) => { … };`';
  return noDefaultFunction(file, found, { hint, line: exportLine(source, undefined) ?? 1 });
}

function outputText(files: readonly { path: string; text: string }[]): string {
  const js = files.find((f) => f.path.endsWith('.mjs'));
  if (!js) throw new Error('esbuild produced no .mjs output');
  return js.text;
}

function buildError(file: string, name: string, err: unknown): WarrenError {
  const errors = (err as Partial<BuildFailure>).errors;
  if (!Array.isArray(errors) || errors.length === 0) {
    return new WarrenError('WARREN_E_HANDLER_BUILD', `could not build function "${name}": ${(err as Error).message}`, {
      file,
      hint: buildHint((err as Error).message),
      cause: err,
    });
  }
  const first = errors[0];
  const where = first?.location ? resolve(dirname(file), first.location.file) : file;
  const texts = errors.map((e, i) => (i === 0 ? e.text : formatMessage(file, e)));
  return new WarrenError('WARREN_E_HANDLER_BUILD', `could not build function "${name}": ${texts.join('; ')}`, {
    file: where,
    ...(first?.location ? { line: first.location.line, column: first.location.column + 1 } : {}),
    hint: buildHint(first?.text),
    cause: err,
  });
}

/** `file:line:column: text`, column 1-based like editors show it. */
function formatMessage(entry: string, m: Message): string {
  if (!m.location) return m.text;
  const { file, line, column } = m.location;
  return `${resolve(dirname(entry), file)}:${line}:${column + 1}: ${m.text}`;
}

async function writeAtomically(target: string, text: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
