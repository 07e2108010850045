/**
 * What handlers report: a consumer that collects every JSON message of a results queue into memory
 * until closed (close it before the vhost cleanup counts consumers). Shared by test/ and bench/.
 */
import amqplib from 'amqplib';

export interface Result {
  fn: string;
  id: string | number;
  attempt: number;
}

export interface Collector {
  results: Result[];
  of(fn: string): Result[];
  /** ids reported by `fn`, without repeats */
  idsOf(fn: string): Set<string | number>;
  close(): Promise<void>;
}

/** Consumes `results` into memory until closed (close before the vhost cleanup counts consumers). */
export async function collectResults(url: string, queue = 'results'): Promise<Collector> {
  const conn = await amqplib.connect(url);
  const ch = await conn.createChannel();
  const results: Result[] = [];
  await ch.consume(
    queue,
    (msg) => {
      if (msg) results.push(JSON.parse(msg.content.toString()) as Result);
    },
    { noAck: true },
  );
  return {
    results,
    of: (fn) => results.filter((r) => r.fn === fn),
    idsOf: (fn) => new Set(results.filter((r) => r.fn === fn).map((r) => r.id)),
    async close() {
      await conn.close();
    },
  };
}
