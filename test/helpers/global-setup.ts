/**
 * vitest globalSetup: the broker must answer before any test runs (a local broker in its stock
 * settings gets its management plugin enabled: test/testkit/broker-ready.ts, shared with the bench),
 * chromium must be there for the dashboard's browser tests, and dist/ must exist for tests that start
 * the CLI or a replica worker.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureBroker, onPath } from '../testkit/broker-ready';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The dashboard's browser tests drive Debian's chromium (no browser download works offline). A
 * machine without it gets it from Debian's packages when the tests run as root with apt-get, as a
 * fresh CI machine does; elsewhere the one line below says what to install.
 */
function ensureChromium(): void {
  const chromium = process.env.WARREN_TEST_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(chromium)) return;
  const apt = onPath('apt-get');
  if (apt === undefined || process.getuid?.() !== 0) {
    throw new Error(`the dashboard tests need Debian's chromium at ${chromium}: \`apt-get install chromium\` (or set WARREN_TEST_CHROMIUM)`);
  }
  process.stderr.write("global-setup: installing chromium from Debian's packages for the dashboard tests\n");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync(apt, ['update', '-qq'], { stdio: 'pipe', env });
  execFileSync(apt, ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'pipe', env });
}

export default async function setup(): Promise<void> {
  await ensureBroker();
  ensureChromium();
  const entries = ['runtime/cli/main.ts', 'runtime/replica/thread.ts'];
  if (!entries.every((file) => existsSync(`${root}/${file}`))) return;
  try {
    execFileSync(process.execPath, ['runtime/build.mjs'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    // Not fatal: tests that need dist/ fail on their own with a clearer message than every test failing.
    process.stderr.write(`global-setup: \`node runtime/build.mjs\` failed, dist/ may be stale:\n${stderr}\n`);
  }
}
