// `npm run bench`: builds the runtime (dist/) and the benchmark (TypeScript, bundled by esbuild into
// node_modules/.cache so its bare imports resolve from the repository), then runs it.
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
process.env.WARREN_BENCH_ROOT = root;
await import('../runtime/build.mjs');
const outdir = join(root, 'node_modules', '.cache', 'warren-bench');
await build({
  absWorkingDir: root,
  // fresh-client: the fastest client as a process of its own (bench/fresh-client.ts)
  entryPoints: ['bench/main.ts', 'bench/fresh-client.ts'],
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
await import(pathToFileURL(join(outdir, 'main.mjs')).href);
