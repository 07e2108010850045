// Builds Warren's own runtime into dist/ (run by `npm ci` through `prepare`, and by `npm run build`).
// Handler files are not built here: Warren builds each one at run time (runtime/functions/bundle.ts).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
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

// The CLI and supervisor: dependencies stay in node_modules.
await build({ ...common, entryPoints: { cli: 'runtime/cli/main.ts' }, packages: 'external' });

// A replica thread starts on every scale, deploy and restart: its dependencies (amqplib and what it
// pulls in) are bundled into one file, which a new thread parses faster than it resolves and loads
// them module by module. pino stays external (it resolves its own transports), and so do the
// libraries a replica loads only when it needs them. `worker` is Node's name for the thread's script.
await build({
  ...common,
  entryPoints: { worker: 'runtime/replica/thread.ts' },
  external: ['pino', 'pino-pretty', 'ajv', 'ajv/*', 'ajv-formats', 'esbuild'],
  minify: true,
  banner: { js: "import { createRequire as __warrenRequire } from 'node:module'; const require = __warrenRequire(import.meta.url);" },
});
