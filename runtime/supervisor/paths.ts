/** Where the built replica entry is, wherever this module was bundled to (dist/) or loaded from (runtime/). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findPackageRoot } from '../functions/package-root';
import { WarrenError } from '../errors';

let cached: string | undefined;

/** dist/worker.js; `npm run build` (run by `npm ci`) makes it. */
export function workerFile(): string {
  if (cached) return cached;
  const file = join(findPackageRoot(), 'dist', 'worker.js');
  if (!existsSync(file)) throw new WarrenError('WARREN_E_INTERNAL', `${file} is missing`, { hint: 'run `npm run build` (npm ci runs it)' });
  return (cached = file);
}
