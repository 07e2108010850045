/**
 * The BullMQ baseline on the local Redis: 100k jobs added in bulk, then one Worker with the same
 * concurrency as Warren's prefetch and a no-op processor, timed from the worker's start until every
 * job completed. Completed jobs are removed (`removeOnComplete`), like an ack removes a message.
 */
import { Queue, Worker } from 'bullmq';

const REDIS = { host: process.env.WARREN_BENCH_REDIS_HOST ?? '127.0.0.1', port: Number(process.env.WARREN_BENCH_REDIS_PORT ?? 6379) };

export async function bullmqDrain(name: string, count: number, concurrency: number): Promise<number> {
  const queue = new Queue(name, { connection: REDIS });
  try {
    await queue.obliterate({ force: true });
    const BATCH = 1_000;
    for (let i = 0; i < count; i += BATCH) {
      const jobs = Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => ({
        name: 'noop',
        data: { i: i + k },
        opts: { removeOnComplete: true, removeOnFail: true },
      }));
      await queue.addBulk(jobs);
    }
    let completed = 0;
    let started = 0;
    const seconds = await new Promise<number>((resolve, reject) => {
      const worker = new Worker(name, async () => undefined, { connection: REDIS, concurrency, autorun: false });
      worker.on('completed', () => {
        if (++completed === count) {
          const s = (performance.now() - started) / 1000;
          void worker.close().then(() => resolve(s), reject);
        }
      });
      worker.on('failed', (_job, err) => reject(err));
      started = performance.now();
      void worker.run();
    });
    return count / seconds;
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}
