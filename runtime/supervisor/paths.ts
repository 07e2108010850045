/** Where the built replica entry is, wherever this module was bundled to (dist/) or loaded from (runtime/). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findPackageRoot } from '../functions/package-root';

let cached: string | undefined;

/** dist/worker.js; `npm run build` (run by `npm ci`) makes it. */
export function workerFile(): string {
  if (cached) return cached;
  const file = join(findPackageRoot(), 'dist', 'worker.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\``);
  return (cached = file);
}
