/** Where the built dashboard lives: dist/dashboard/ of Warren's package (runtime/build.mjs writes it). */
import { join } from 'node:path';
import { findPackageRoot } from '../functions/package-root';

export function dashboardAssets(): string {
  return join(findPackageRoot(import.meta.url), 'dist', 'dashboard');
}
