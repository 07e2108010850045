/** The one queue-naming module, the one abortable sleep and the one per-function lock. */
import { describe, expect, it } from 'vitest';
import { formatDelay, isDeadQueueName, isRetryQueueName, sourceQueueOf } from '../../runtime/topology/names';
import { sleep } from '../../runtime/lib/sleep';
import { PerKeyLock } from '../../runtime/lib/per-key-lock';

describe('queue names', () => {
  it('name retry queues in hours at most, as they always were (a queue name is an address)', () => {
    expect(formatDelay(86_400_000)).toBe('24h');
    expect(formatDelay(90_061_000)).toBe('25h1m1s');
  });
  it('reads back what it writes', () => {
    expect(sourceQueueOf('orders.dead')).toBe('orders');
    expect(sourceQueueOf('orders')).toBeUndefined();
    expect(isDeadQueueName('orders.dead')).toBe(true);
    expect(isRetryQueueName('orders.retry.1s')).toBe(true);
    expect(isRetryQueueName('orders')).toBe(false);
  });
});

describe('sleep', () => {
  it('ends early when its signal aborts, and at once when it already has', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const waiting = sleep(60_000, controller.signal);
    controller.abort();
    await waiting;
    await sleep(60_000, AbortSignal.abort());
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('PerKeyLock', () => {
  it('runs changes of one key one after the other, even after a failure, and other keys alongside', async () => {
    const lock = new PerKeyLock();
    const log: string[] = [];
    let release!: () => void;
    const first = lock.run('a', async () => {
      log.push('a1 start');
      await new Promise<void>((r) => (release = r));
      log.push('a1 end');
      throw new Error('a1 failed');
    });
    const second = lock.run('a', async () => void log.push('a2'));
    await lock.run('b', async () => void log.push('b1'));
    expect(log).toEqual(['a1 start', 'b1']);
    release();
    await expect(first).rejects.toThrow('a1 failed');
    await second;
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });
});
