/**
 * A handler's `import pg from 'pg'` resolves from the user's project (its own node_modules), not from
 * Warren's: a project folder outside this repository holds a tiny local package named `pg`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { invokeFunction } from '../../runtime/cli/invoke';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('packages a handler imports', () => {
  it("resolve from the project's own node_modules", async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-project-'));
    await mkdir(join(dir, 'node_modules', 'pg'), { recursive: true });
    await writeFile(join(dir, 'node_modules', 'pg', 'package.json'), JSON.stringify({ name: 'pg', version: '0.0.0-local', main: 'index.js' }));
    await writeFile(join(dir, 'node_modules', 'pg', 'index.js'), "module.exports = { Client: class {}, origin: 'the project' };\n");
    await mkdir(join(dir, 'functions'));
    await writeFile(join(dir, 'queues.yaml'), 'functions:\n  save: { batch: { size: 10 } }\n');
    await writeFile(
      join(dir, 'functions', 'save.ts'),
      `import pg from 'pg';
import type { BatchHandler } from 'warren';
const handler: BatchHandler = async (items, ctx) => {
  await ctx.publish('', 'seen', { origin: (pg as unknown as { origin: string }).origin, items: items.length });
};
export default handler;
`,
    );
    const result = await invokeFunction(dir, 'save', [{ a: 1 }, { a: 2 }], {});
    expect(result.ok).toBe(true);
    expect(result.published).toEqual([{ exchange: '', routingKey: 'seen', body: { origin: 'the project', items: 2 } }]);
  });
});
