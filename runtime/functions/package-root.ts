import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Warren's own package folder: the nearest ancestor of `fromUrl` whose package.json is named "warren".
 * Found by walking up because this module runs both from runtime/functions/ (tests, tsx) and bundled
 * into dist/cli.js (production), at different depths.
 */
export function findPackageRoot(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readName(manifest) === 'warren') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json named "warren" above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}

function readName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}

let cachedVersion: string | undefined;

/** Warren's version, from its package.json (`warren --version`); never a reason for a command to fail. */
export function warrenVersion(): string {
  cachedVersion ??= readVersion();
  return cachedVersion;
}

function readVersion(): string {
  try {
    const { version } = JSON.parse(readFileSync(join(findPackageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

let cachedEntry: string | undefined;

/** runtime/index.ts: what `import … from 'warren'` (and `../runtime`) in a handler file means. */
export function runtimeEntry(): string {
  cachedEntry ??= join(findPackageRoot(), 'runtime', 'index.ts');
  return cachedEntry;
}
