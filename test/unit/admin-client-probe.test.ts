/** The CLI's admin client (runtime/cli/admin-client.ts) against a port whose process accepts and never answers. */
import { createServer, type Socket } from 'node:net';
import { expect, it } from 'vitest';
import { createAdminClient } from '../../runtime/cli/admin-client';
import { WarrenError } from '../../runtime/errors';

it('gives up a long request (a deploy) within seconds when what holds the admin port does not answer /healthz', async () => {
  const held: Socket[] = [];
  const silent = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const began = Date.now();
    const failed = await createAdminClient({ WARREN_ADMIN_PORT: String(port) })
      .post('/deploy', {}, { timeoutMs: 15 * 60_000 })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(failed).toBeInstanceOf(WarrenError);
    expect((failed as WarrenError).code).toBe('WARREN_E_ADMIN_UNREACHABLE');
    expect((failed as WarrenError).message).toBe(`the runtime at http://127.0.0.1:${port} did not answer GET /healthz within 5s`);
    expect((failed as WarrenError).details.hint).toContain('does not answer as a Warren runtime');
  } finally {
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
}, 20_000);
