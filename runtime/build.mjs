// Builds Warren's own runtime into dist/ (run by `npm ci` through `prepare`, and by `npm run build`).
// Handler files are not built here: Warren builds each one at run time (runtime/functions/bundle.ts).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const resolveHere = createRequire(import.meta.url).resolve;
// An ESM bundle of CommonJS code that calls `require` (Node's built-ins, packages left external).
const requireInEsm = { js: "import { createRequire as __warrenRequire } from 'node:module'; const require = __warrenRequire(import.meta.url);" };
const common = {
  absWorkingDir: root,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
};

/**
 * rascal and what it pulls in are some 400 modules (xregexp's core-js alone 257), which Node resolved,
 * read and compiled one by one in 210 ms of CPU on every `warren start`, before the first queue was
 * declared. dist/rascal.js is rascal bundled into one file (95 ms), which the CLI's `import('rascal')`
 * loads instead; amqplib stays the one in node_modules, shared with the rest of the CLI.
 */
await build({
  ...common,
  entryPoints: { rascal: resolveHere('rascal') },
  external: ['amqplib'],
  sourcemap: false,
  minifyWhitespace: true,
  minifySyntax: true,
  banner: requireInEsm,
});
const bundledRascal = {
  name: 'bundled-rascal',
  setup(b) {
    b.onResolve({ filter: /^rascal$/ }, () => ({ path: './rascal.js', external: true }));
  },
};

/**
 * runtime/config/queues-validator.ts compiles queues.yaml's JSON Schema with ajv on first use; in the
 * CLI's bundle it is the same validator as ajv's standalone code, generated here with the options that
 * module exports, so no command compiles the schema at run time (about 140 ms of CPU each start).
 */
async function standaloneQueuesValidator() {
  const { queuesValidatorSource } = await import('./config/queues-standalone.mjs');
  const contents = await queuesValidatorSource(root);
  return {
    name: 'standalone-queues-validator',
    setup(b) {
      b.onLoad({ filter: /[\\/]runtime[\\/]config[\\/]queues-validator\.ts$/ }, () => ({ contents, loader: 'js' }));
    },
  };
}

// The CLI and supervisor, and the thread `warren invoke` runs a handler in: dependencies stay in node_modules.
await build({
  ...common,
  entryPoints: { cli: 'runtime/cli/main.ts', invoke: 'runtime/cli/invoke-thread.ts' },
  packages: 'external',
  plugins: [bundledRascal, await standaloneQueuesValidator()],
});

/**
 * runtime/connection/amqplib-defs.ts loads amqplib's decoder from node_modules; in the replica's
 * bundle, which carries its own copy of amqplib, it imports that copy's `lib/defs.js` instead (the
 * same file amqplib requires, so esbuild keeps one module), rather than load a second one per thread.
 */
function bundledAmqplibDefs() {
  const lib = join(dirname(resolveHere('amqplib')), 'lib');
  const defs = join(lib, 'defs.js');
  const codec = join(lib, 'codec.js');
  return {
    name: 'bundled-amqplib-defs',
    setup(b) {
      b.onLoad({ filter: /[\\/]runtime[\\/]connection[\\/]amqplib-defs\.ts$/ }, () => ({
        contents:
          `import defs from ${JSON.stringify(defs)};\nimport codec from ${JSON.stringify(codec)};\n` +
          `export function amqplibDecode() { return defs.decode; }\nexport function amqplibDecodeFields() { return codec.decodeFields; }\n`,
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}

/**
 * amqplib's connect.js loads `node:tls` when it loads, for amqps URLs only: in a replica thread that
 * is Node's whole crypto layer (some twenty internal modules) compiled on every thread start. The
 * replica's bundle loads it on the first amqps connection instead.
 */
function lazyTls() {
  return {
    name: 'lazy-tls',
    setup(b) {
      b.onLoad({ filter: /[\\/]amqplib[\\/]lib[\\/]connect\.js$/ }, async (args) => {
        const { readFile } = await import('node:fs/promises');
        const source = await readFile(args.path, 'utf8');
        const eager = "const tls = require('node:tls');";
        // A changed amqplib fails the build here rather than ship a thread that loads tls eagerly.
        if (!source.includes(eager)) throw new Error(`lazy-tls: ${args.path} no longer holds ${eager}`);
        return { contents: source.replace(eager, "const tls = { connect: (...a) => require('node:tls').connect(...a) };"), loader: 'js' };
      });
    },
  };
}

// A replica thread starts on every scale, deploy and restart (twenty functions: twenty threads at
// once): its dependencies (amqplib, pino and what they pull in) are bundled into one file, which a
// new thread parses faster than it resolves and loads them module by module (pino bundled: 18 ms
// less CPU per thread on the bench machine). Replicas never use pino's transports (pino-pretty runs
// in-thread for `warren dev`), the one part of pino that must stay a file of its own. The libraries a
// replica loads only when it needs them stay external. `worker` is Node's name for the thread's script.
await build({
  ...common,
  entryPoints: { worker: 'runtime/replica/thread.ts' },
  external: ['pino-pretty', 'ajv', 'ajv/*', 'ajv-formats', 'esbuild'],
  // Whitespace and syntax are minified, identifiers are not: error classes keep their names in the logs
  // (`"type": "WarrenError"`, not a minifier's `"H"`) and a CPU profile stays readable. esbuild's
  // keepNames would do the same for minified names at a price on the hot path: a defineProperty call
  // each time a closure is made (about a tenth of a no-op message's CPU).
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [bundledAmqplibDefs(), lazyTls()],
  banner: requireInEsm,
});

// The dashboard (runtime/dashboard/, served by the admin API at `/`): one script and one stylesheet
// with content hashes in their names (cached for good by browsers), and the page that names them.
// No inline script or style, so the admin API can send a strict Content-Security-Policy.
{
  const { rm, mkdir, writeFile } = await import('node:fs/promises');
  const { basename, join } = await import('node:path');
  const outdir = join(root, 'dist', 'dashboard');
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: 'runtime/dashboard/main.tsx' },
    outdir,
    entryNames: '[name]-[hash]',
    bundle: true,
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16'],
    format: 'esm',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: 'runtime/dashboard/tsconfig.json',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
  const script = outputs.find((f) => f.endsWith('.js'));
  const style = outputs.find((f) => f.endsWith('.css'));
  await writeFile(
    join(outdir, 'index.html'),
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Warren</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='4' fill='%233867d6'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Warren dashboard needs JavaScript. The admin API answers without it: GET /functions.</noscript>
</body>
</html>
`,
  );
}
