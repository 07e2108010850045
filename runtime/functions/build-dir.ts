/**
 * Where a runtime builds a project's handlers: one folder per project, kept between starts (two
 * instances of one project on one machine share it, so a stop leaves it for the other), or
 * WARREN_BUILD_DIR when set.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function buildDirFor(projectDir: string, env: Record<string, string | undefined>): string {
  const key = createHash('sha256').update(projectDir).digest('hex').slice(0, 10);
  return env['WARREN_BUILD_DIR'] ?? join(tmpdir(), `warren-build-${key}`);
}
