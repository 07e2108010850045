/**
 * Batch handlers against PostgreSQL (127.0.0.1:5432, db `test`, or WARREN_BENCH_PG_URL): a batch
 * function of size 100 writing its items with one multi-row INSERT, against a per-message function
 * doing one INSERT each, both through a pool of 10 connections (so up to 10 statements at once each:
 * prefetch 1000 lets 10 batches run side by side, prefetch 100 lets 100 single messages wait for the
 * 10 connections), on the same pre-filled queue size.
 * The project's node_modules links to this repository's, so the handlers' `import pg from 'pg'`
 * resolves as it would in a user's project.
 */
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { createVhost, publishBaseline, purge, queueDepth } from '../broker';
import { sleep } from '../stats';
import { createProject, repoRoot, startWarren } from '../warren';

export const PG_URL = process.env.WARREN_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TABLE = 'warren_bench_items';

const pool = `import pg from 'pg';
const pool = new pg.Pool({ connectionString: process.env.WARREN_BENCH_PG_URL ?? ${JSON.stringify(PG_URL)}, max: 10 });
`;
const batchSource = `${pool}import type { BatchHandler } from 'warren';
const handler: BatchHandler<unknown> = async (items) => {
  const params = items.map((item) => JSON.stringify(item.body));
  await pool.query('INSERT INTO ${TABLE} (body) VALUES ' + params.map((_, i) => '($' + (i + 1) + ')').join(','), params);
};
export default handler;
`;
const singleSource = `${pool}export default async (body: unknown) => {
  await pool.query('INSERT INTO ${TABLE} (body) VALUES ($1)', [JSON.stringify(body)]);
};
`;

export interface BatchRuns {
  batch: number[];
  single: number[];
}

export async function measureBatchInsert(count: number, runs: number, log: (line: string) => void): Promise<BatchRuns> {
  const db = new pg.Client({ connectionString: PG_URL });
  await db.connect();
  await db.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigserial PRIMARY KEY, body jsonb NOT NULL)`);
  const vhost = await createVhost('batch');
  // One project per function: each run starts only the function it measures.
  const projects = {
    'insert-batch': await createProject('functions:\n  insert-batch: { batch: { size: 100, window: 50ms }, prefetch: 1000 }\n', {
      'insert-batch': batchSource,
    }),
    'insert-one': await createProject('functions:\n  insert-one: { prefetch: 100 }\n', { 'insert-one': singleSource }),
  };
  for (const p of Object.values(projects)) await symlink(join(repoRoot, 'node_modules'), join(p.dir, 'node_modules'));
  const out: BatchRuns = { batch: [], single: [] };
  try {
    for (const p of Object.values(projects)) await (await startWarren(p.dir, vhost.url)).stop();
    for (let run = 1; run <= runs; run++) {
      const rate = async (fn: keyof typeof projects) => {
        await db.query(`TRUNCATE ${TABLE}`);
        await publishBaseline(vhost.url, fn, count);
        const w = await startWarren(projects[fn].dir, vhost.url, { waitReady: false, env: { WARREN_BENCH_PG_URL: PG_URL } });
        try {
          const started = (await w.waitForLog((l) => l.msg === 'function started' && l['function'] === fn)).time;
          for (;;) {
            const acked = await w.acked(fn).catch(() => 0);
            if (acked >= count) return count / ((Date.now() - started) / 1000);
            await sleep(20);
          }
        } finally {
          await w.stop();
          const rows = Number((await db.query(`SELECT count(*) AS n FROM ${TABLE}`)).rows[0].n);
          if (rows !== count) log(`  warning: ${fn} wrote ${rows} rows for ${count} messages`);
          if (await queueDepth(vhost.url, fn)) await purge(vhost.url, fn);
        }
      };
      const b = await rate('insert-batch');
      const s = await rate('insert-one');
      out.batch.push(b);
      out.single.push(s);
      log(`  run ${run}/${runs}: batch of 100, one INSERT ${Math.round(b)} msg/s; one INSERT per message ${Math.round(s)} msg/s`);
    }
  } finally {
    await db.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
    await db.end();
    for (const p of Object.values(projects)) await p.remove();
    await vhost.remove();
  }
  return out;
}
