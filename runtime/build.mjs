// Builds Warren's own runtime into dist/ (run by `npm ci` through `prepare`, and by `npm run build`).
// Handler files are not built here: Warren builds each one at run time (runtime/functions/build.ts).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: { cli: 'runtime/cli/main.ts', worker: 'runtime/consumer/worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
