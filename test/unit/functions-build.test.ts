import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WarrenError } from '../../runtime/errors.js';
import { buildHandler } from '../../runtime/functions/bundle.js';
import { loadHandler } from '../../runtime/functions/load.js';
import { isReject, Reject, type Context } from '../../runtime/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/functions/', import.meta.url));
const fixture = (name: string): string => join(fixtures, name);

let scratch: string;
let outDir: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'warren-build-'));
  outDir = join(scratch, 'out');
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function fakeContext(overrides: Partial<Context> = {}): Context {
  const noop = (): void => undefined;
  return {
    log: { trace: noop, debug: noop, info: noop, warn: noop, error: noop },
    publish: async () => undefined,
    raw: Buffer.from('{}'),
    headers: {},
    routingKey: 'test',
    exchange: '',
    messageId: 'm-1',
    properties: { persistent: true },
    attempt: 1,
    signal: new AbortController().signal,
    functionName: 'test',
    ...overrides,
  };
}

async function buildAndLoad(file: string, name = basename(file).replace(/\.[^.]+$/, ''), out = outDir) {
  const built = await buildHandler({ file, name, outDir: out });
  return { built, handler: await loadHandler(built.bundleFile, file) };
}

async function thrownBy(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/**
 * Loads a bundle with loadHandler in a plain `node` child and runs it once. Inside vitest, dynamic
 * import goes through vite's module runner (which has its own `require` and source-map support), so
 * what production sees is checked here.
 */
async function runInNode(
  bundleFile: string,
  sourceFile: string,
  message: unknown,
): Promise<{ result?: unknown; error?: { message: string; stack: string; isReject: boolean } }> {
  const loader = join(scratch, 'loader.mjs');
  if (!existsSync(loader)) {
    await build({
      stdin: {
        contents: "export { loadHandler } from './functions/load.ts';\nexport { isReject } from './index.ts';\n",
        resolveDir: fileURLToPath(new URL('../../runtime/', import.meta.url)),
        loader: 'ts',
      },
      outfile: loader,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
  }
  const script = `
    const { loadHandler, isReject } = await import(${JSON.stringify(loader)});
    const handler = await loadHandler(${JSON.stringify(bundleFile)}, ${JSON.stringify(sourceFile)});
    const ctx = { attempt: 1, headers: {}, signal: new AbortController().signal };
    let out;
    try { out = { result: await handler(${JSON.stringify(message)}, ctx) }; }
    catch (e) { out = { error: { message: e.message, stack: String(e.stack), isReject: isReject(e) } }; }
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  return JSON.parse(stdout) as { result?: unknown; error?: { message: string; stack: string; isReject: boolean } };
}

/** A folder outside this repository with its own package.json, like a user's project. */
async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'project-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

describe('buildHandler + loadHandler', () => {
  it('bundles echo.ts into one content-addressed ESM file that runs', async () => {
    const { built, handler } = await buildAndLoad(fixture('echo.ts'));
    expect(built.version).toMatch(/^[0-9a-f]{12}$/);
    expect(built.bundleFile).toBe(join(outDir, `echo-${built.version}.mjs`));
    expect(existsSync(built.bundleFile)).toBe(true);
    expect(built.warnings).toEqual([]);
    expect(await handler({ hello: 'world' }, fakeContext())).toEqual({ hello: 'world' });
  });

  it('gives the handler its context (record.ts sees the attempt)', async () => {
    const { handler } = await buildAndLoad(fixture('record.ts'));
    expect(await handler('hi', fakeContext({ attempt: 3 }))).toEqual({ received: 'hi', attempt: 3 });
  });

  it('keeps the version across builds of the same source and changes it when the source changes', async () => {
    const dir = await project({});
    const file = join(dir, 'echo.ts');
    await copyFile(fixture('echo.ts'), file);
    const first = await buildHandler({ file, name: 'echo', outDir });
    const second = await buildHandler({ file, name: 'echo', outDir });
    expect(second.version).toBe(first.version);
    expect(second.bundleFile).toBe(first.bundleFile);

    await writeFile(file, (await readFile(file, 'utf8')).replace('async (message) => message', 'async (message) => ({ echoed: message })'));
    const third = await buildHandler({ file, name: 'echo', outDir });
    expect(third.version).not.toBe(first.version);
    expect(third.bundleFile).not.toBe(first.bundleFile);
    expect(existsSync(first.bundleFile)).toBe(true); // the old version stays loadable while it drains
    expect(await (await loadHandler(third.bundleFile, file))('x', fakeContext())).toEqual({ echoed: 'x' });
  });

  it('refuses a syntax error with WARREN_E_HANDLER_BUILD naming the file, line and column', async () => {
    const file = fixture('syntax-error.ts');
    const err = await thrownBy(() => buildHandler({ file, name: 'syntax-error', outDir }));
    expect(err).toBeInstanceOf(WarrenError);
    const we = err as WarrenError;
    expect(we.code).toBe('WARREN_E_HANDLER_BUILD');
    expect(we.details).toMatchObject({ file, line: 5, column: 17, hint: 'fix the error at this line' });
    expect(we.message).toContain('"await" can only be used inside an "async" function');
    expect(we.format()).toContain(`${file}:5:17 `);
    expect(existsSync(join(outDir, 'syntax-error'))).toBe(false);
  });

  it('lists every esbuild error in the message, not only the first', async () => {
    const dir = await project({
      'broken.ts': "import { a } from './a';\nimport { b } from './b';\nexport default () => a + b;\n",
      'a.ts': 'export const a = ;\n',
      'b.ts': 'export const b = (;\n',
    });
    const err = (await thrownBy(() => buildHandler({ file: join(dir, 'broken.ts'), name: 'broken', outDir }))) as WarrenError;
    expect(err.code).toBe('WARREN_E_HANDLER_BUILD');
    expect(err.message.match(/Unexpected/g)?.length).toBe(2);
    expect(err.message).toMatch(/[ab]\.ts:1:\d+: Unexpected/);
    expect(err.details.file).toMatch(/\/[ab]\.ts$/);
    expect(err.details.line).toBe(1);
  });

  it('refuses a static import of a package that is not installed, at build time', async () => {
    const dir = await project({ 'h.ts': "import left from 'no-such-package-warren';\nexport default () => left;\n" });
    const err = (await thrownBy(() => buildHandler({ file: join(dir, 'h.ts'), name: 'h', outDir }))) as WarrenError;
    expect(err.code).toBe('WARREN_E_HANDLER_BUILD');
    expect(err.details).toMatchObject({ file: join(dir, 'h.ts'), line: 1 });
    expect(err.message).toContain('no-such-package-warren');
    expect(err.details.hint).toBe('install it in the project (npm install no-such-package-warren), or fix the import');
    const scoped = await project({ 'h.ts': "import x from '@acme/nothing/deep';\nexport default () => x;\n" });
    expect(((await thrownBy(() => buildHandler({ file: join(scoped, 'h.ts'), name: 'h', outDir }))) as WarrenError).details.hint).toContain(
      'npm install @acme/nothing)',
    );
    const relative = await project({ 'h.ts': "import x from './gone';\nexport default () => x;\n" });
    expect(((await thrownBy(() => buildHandler({ file: join(relative, 'h.ts'), name: 'h', outDir }))) as WarrenError).details.hint).toContain(
      'fix the import path',
    ); // The README's handler, copied into a project of its own: its `../runtime` is this repository's.
    const copied = await project({ 'functions/h.ts': "import { Reject } from '../runtime';\nexport default () => { throw new Reject('no'); };\n" });
    expect(((await thrownBy(() => buildHandler({ file: join(copied, 'functions/h.ts'), name: 'h', outDir }))) as WarrenError).details.hint).toBe(
      "outside Warren's own repository, import the runtime's types and Reject from 'warren': import { Reject, type Handler } from 'warren'",
    );
  });

  it('refuses a file without a default export function with WARREN_E_HANDLER_EXPORT', async () => {
    // At build time, so `check` and `start` refuse it like a syntax error.
    const file = fixture('no-default.ts');
    const err = await thrownBy(() => buildHandler({ file, name: 'no-default', outDir }));
    expect(err).toBeInstanceOf(WarrenError);
    expect((err as WarrenError).code).toBe('WARREN_E_HANDLER_EXPORT');
    // At the line of the named export to make the default, not at the top of the file.
    expect((err as WarrenError).details).toMatchObject({ file, line: 4, hint: 'export it as the default: `export default handler;`' });
    const late = await project({ 'late.ts': 'const handler = async () => 1;\n\n// at the end\nexport { handler };\n' });
    expect(((await thrownBy(() => buildHandler({ file: join(late, 'late.ts'), name: 'late', outDir }))) as WarrenError).details.line).toBe(4);
    expect((err as WarrenError).message).toContain('found named export handler');
    // A default export that is not a function, when a name hides what it is, is known only once loaded.
    const dir = await project({ 'notfn.ts': 'const answer = 42;\nexport default answer;\n', 'none.ts': 'const x = 1;\n' });
    const built = await buildHandler({ file: join(dir, 'notfn.ts'), name: 'notfn', outDir });
    const notFn = (await thrownBy(() => loadHandler(built.bundleFile, join(dir, 'notfn.ts')))) as WarrenError;
    expect(notFn.code).toBe('WARREN_E_HANDLER_EXPORT');
    expect(notFn.details.hint).toContain('export default async function handler(message, ctx)');
    const none = (await thrownBy(() => buildHandler({ file: join(dir, 'none.ts'), name: 'none', outDir }))) as WarrenError;
    expect(none.message).toContain('found no export');
  });

  it('refuses a default export that the bundle shows is a literal, not a function, at build time, at its line', async () => {
    const dir = await project({
      'num.ts': 'export default 42;\n',
      'obj.ts': "// another platform's handler object\nconst queue = async (batch: unknown[]) => batch.length;\n\nexport default { queue };\n",
      'kept.ts': 'let h: unknown = {};\nh = async () => 1;\nexport { h as default };\n',
      'interop.ts': 'export default { default: async () => 1 };\n',
    });
    const num = (await thrownBy(() => buildHandler({ file: join(dir, 'num.ts'), name: 'num', outDir }))) as WarrenError;
    expect(num.code).toBe('WARREN_E_HANDLER_EXPORT');
    expect(num.message).toBe('num.ts has no default export function (found a number)');
    const obj = (await thrownBy(() => buildHandler({ file: join(dir, 'obj.ts'), name: 'obj', outDir }))) as WarrenError;
    expect(obj.message).toBe('obj.ts has no default export function (found an object literal)');
    expect(obj.details).toMatchObject({ file: join(dir, 'obj.ts'), line: 4 });
    expect(obj.details.hint).toContain('not a method of it');
    // reassigned before it is exported, or an object with a default (which a replica takes): built, and they load
    for (const name of ['kept', 'interop']) {
      const built = await buildHandler({ file: join(dir, `${name}.ts`), name, outDir });
      expect(typeof (await loadHandler(built.bundleFile, join(dir, `${name}.ts`)))).toBe('function');
    }
  });

  it('places a default export that is no function on load at its `export default` line, and calls an unset one undefined', async () => {
    const dir = await project({
      'late.ts':
        "import { readFileSync } from 'node:fs';\nconst handler = JSON.parse(readFileSync('/dev/null', 'utf8') || '1');\n\n// comments\n\nexport default handler;\n",
      'unset.ts':
        "let handler: (() => Promise<number>) | undefined;\nif (process.env['NEVER_SET_X'] === 'y') handler = async () => 1;\n\n\nexport { handler as default };\n",
    });
    const late = await buildHandler({ file: join(dir, 'late.ts'), name: 'late', outDir });
    const lateErr = (await thrownBy(() => loadHandler(late.bundleFile, join(dir, 'late.ts')))) as WarrenError;
    expect(lateErr.message).toBe('late.ts has no default export function (found a number)');
    expect(lateErr.details.line).toBe(6);
    const unset = await buildHandler({ file: join(dir, 'unset.ts'), name: 'unset', outDir });
    const unsetErr = (await thrownBy(() => loadHandler(unset.bundleFile, join(dir, 'unset.ts')))) as WarrenError;
    expect(unsetErr.message).toBe('unset.ts has no default export function (found undefined: its value is not set yet when the file loads)');
    expect(unsetErr.details.line).toBe(5);
  });

  it("refuses Lambda's CommonJS `exports.handler = …` at build time, so `check` catches it, and says how to export it", async () => {
    const dir = await project({
      'lambda.js': 'exports.handler = async (event) => ({ ok: true, event });\n',
      'both.cjs': 'exports.handler = async () => 1;\nmodule.exports = exports.handler;\n',
      'compiled.js': 'Object.defineProperty(exports, "__esModule", { value: true });\nexports.default = async () => 1;\n',
    });
    const err = (await thrownBy(() => buildHandler({ file: join(dir, 'lambda.js'), name: 'lambda', outDir }))) as WarrenError;
    expect(err.code).toBe('WARREN_E_HANDLER_EXPORT');
    expect(err.message).toContain('found named export handler');
    expect(err.details.hint).toContain('`module.exports = exports.handler;`');
    expect(err.details.line).toBe(1);
    // a file that also assigns module.exports, or a default, may well export a function: built
    for (const name of ['both.cjs', 'compiled.js']) await buildHandler({ file: join(dir, name), name: name.split('.')[0]!, outDir });
  });

  it('refuses a CommonJS `module.exports = { handler }` at build time, so `check` catches it, naming the function to export', async () => {
    const dir = await project({
      'cjsobj.js': "const helper = (x) => x;\nmodule.exports = {\n  handler: async (msg) => helper(msg),\n  name: 'a \\'}\\' key',\n};\n",
      'methods.js': 'module.exports = { async handle(m) { return m; }, ok: [1, { a: 2 }] };\n',
      'interop.js': 'module.exports = { default: async () => 1 };\n',
      'indirect.js': 'const o = { handler: async () => 1 };\nmodule.exports = o;\n',
    });
    const err = (await thrownBy(() => buildHandler({ file: join(dir, 'cjsobj.js'), name: 'cjsobj', outDir }))) as WarrenError;
    expect(err.code).toBe('WARREN_E_HANDLER_EXPORT');
    expect(err.message).toBe('cjsobj.js has no default export function (found an object with handler, name)');
    expect(err.details.hint).toContain('`module.exports = handler;`');
    expect(err.details.line).toBe(2);
    const methods = (await thrownBy(() => buildHandler({ file: join(dir, 'methods.js'), name: 'methods', outDir }))) as WarrenError;
    expect(methods.message).toBe('methods.js has no default export function (found an object with handle, ok)');
    // an object with a default, which a replica takes: built, and it loads
    const built = await buildHandler({ file: join(dir, 'interop.js'), name: 'interop', outDir });
    expect(typeof (await loadHandler(built.bundleFile, join(dir, 'interop.js')))).toBe('function');
    // an object the source does not show: refused on load, with the same advice
    const indirect = await buildHandler({ file: join(dir, 'indirect.js'), name: 'indirect', outDir });
    const loaded = (await thrownBy(() => loadHandler(indirect.bundleFile, join(dir, 'indirect.js')))) as WarrenError;
    expect(loaded.message).toBe('indirect.js has no default export function (found an object with handler)');
    expect(loaded.details.hint).toContain('export handler as the default');
  });

  it('refuses a file that throws while it loads with WARREN_E_HANDLER_LOAD at the line of the throw', async () => {
    const dir = await project({
      'boom.ts': "const port = Number('x');\nif (Number.isNaN(port)) throw new Error('PORT is not a number');\nexport default () => port;\n",
    });
    const file = join(dir, 'boom.ts');
    const built = await buildHandler({ file, name: 'boom', outDir });
    const err = (await thrownBy(() => loadHandler(built.bundleFile, file))) as WarrenError;
    expect(err.code).toBe('WARREN_E_HANDLER_LOAD');
    expect(err.message).toBe('boom.ts threw while loading: Error: PORT is not a number');
    expect(err.details).toMatchObject({ file, line: 2 });
  });

  it('lets the runtime recognise a Reject thrown from a bundle, and not a plain Error', async () => {
    const rejects = (await buildAndLoad(fixture('rejects.ts'))).handler;
    const rejected = await thrownBy(() => rejects({}, fakeContext()));
    expect(isReject(rejected)).toBe(true);
    expect(rejected instanceof Reject).toBe(false); // the bundle carries its own copy of the class
    expect((rejected as Error).message).toBe('not for me');

    const throws = (await buildAndLoad(fixture('always-throws.ts'))).handler;
    const failed = await thrownBy(() => throws({}, fakeContext()));
    expect(isReject(failed)).toBe(false);
    expect((failed as Error).message).toBe('boom');
  });

  it("points stack traces at the handler's own file and line, in plain Node", async () => {
    const file = fixture('always-throws.ts');
    const built = await buildHandler({ file, name: 'always-throws', outDir });
    const { error } = await runInNode(built.bundleFile, file, {});
    expect(error?.message).toBe('boom');
    expect(error?.isReject).toBe(false);
    expect(error?.stack).toContain(`${file}:5:`);

    const rejects = fixture('rejects.ts');
    const rejected = await runInNode((await buildHandler({ file: rejects, name: 'rejects', outDir })).bundleFile, rejects, {});
    expect(rejected.error?.isReject).toBe(true);
  });

  it("resolves `import … from 'warren'` in a project outside this repository to this runtime", async () => {
    const dir = await project({
      'package.json': JSON.stringify({ name: 'someone-else', type: 'module' }),
      'functions/guard.ts':
        "import { Reject, type Handler } from 'warren';\n" +
        "const handler: Handler<{ ok: boolean }> = (m) => { if (!m.ok) throw new Reject('bad'); return 'fine'; };\n" +
        'export default handler;\n',
    });
    const file = join(dir, 'functions/guard.ts');
    const { handler } = await buildAndLoad(file, 'guard', join(dir, '.warren'));
    expect(await handler({ ok: true }, fakeContext())).toBe('fine');
    expect(isReject(await thrownBy(() => handler({ ok: false }, fakeContext())))).toBe(true);
  });

  it('runs a CommonJS .js handler (module.exports = fn) that requires built-ins and packages', async () => {
    const dir = await project({
      'package.json': JSON.stringify({ name: 'cjs-project' }),
      'node_modules/shout/package.json': JSON.stringify({ name: 'shout', main: 'index.js' }),
      'node_modules/shout/index.js': 'module.exports = (s) => String(s).toUpperCase() + "!";\n',
      'functions/cjs.js':
        "const path = require('node:path');\nconst shout = require('shout');\n" +
        'module.exports = async function (message) { return { base: path.basename("/a/b.txt"), loud: shout(message) }; };\n',
    });
    // outDir outside the project: packages still resolve from the handler's folder
    const file = join(dir, 'functions/cjs.js');
    const { built, handler } = await buildAndLoad(file, 'cjs', join(scratch, 'elsewhere'));
    expect(await handler('hi', fakeContext())).toEqual({ base: 'b.txt', loud: 'HI!' });
    expect(await runInNode(built.bundleFile, file, 'hi')).toEqual({ result: { base: 'b.txt', loud: 'HI!' } });
  });

  it("keeps an ES module package external and loads it from the handler's project", async () => {
    const dir = await project({
      'node_modules/greet/package.json': JSON.stringify({ name: 'greet', type: 'module', exports: { '.': { import: './esm.js' } } }),
      'node_modules/greet/esm.js': 'export const greet = (n) => `hello ${n}`;\nexport const marker = Symbol.for("greet-instance");\n',
      'functions/hello.mjs': "import { greet } from 'greet';\nexport default (m) => greet(m);\n",
    });
    const { built, handler } = await buildAndLoad(join(dir, 'functions/hello.mjs'), 'hello', join(scratch, 'elsewhere'));
    expect(await handler('ada', fakeContext())).toBe('hello ada');
    expect(await runInNode(built.bundleFile, join(dir, 'functions/hello.mjs'), 'ada')).toEqual({ result: 'hello ada' });
    expect(await readFile(built.bundleFile, 'utf8')).not.toContain('hello ${n}'); // not bundled in
  });

  it('builds 20 functions in parallel, each its own bundle and version', async () => {
    const dir = await project({});
    const files = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const file = join(dir, `fn${i}.ts`);
        await writeFile(
          file,
          `import { Reject } from 'warren';\nexport default async (m: { n: number }) => { if (m.n < 0) throw new Reject('neg'); return m.n + ${i}; };\n`,
        );
        return file;
      }),
    );
    const built = await Promise.all(files.map((file, i) => buildHandler({ file, name: `fn${i}`, outDir })));
    const handlers = await Promise.all(built.map((b, i) => loadHandler(b.bundleFile, files[i] ?? '')));
    expect(await handlers[7]?.({ n: 1 }, fakeContext())).toBe(8);
    expect(new Set(built.map((b) => b.version)).size).toBe(20);
  });
});
