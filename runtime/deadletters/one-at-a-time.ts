/**
 * Dead-letter reads hold the letters they read unacked until they end (./list.ts), and a queue's
 * message count leaves out what is held. A replay or a purge beside a read would see fewer letters
 * than there are: the dashboard's list, refreshed as the queue's depth changes, made "Replay" find
 * nothing now and then. In one process, each dead-letter queue takes its operations one at a time.
 */
const tails = new Map<string, Promise<unknown>>();

export function oneAtATime<T>(url: string, queue: string, work: () => Promise<T>): Promise<T> {
  const key = `${url}\u0000${queue}`;
  const before = tails.get(key) ?? Promise.resolve();
  const run = before.then(work, work);
  const tail = run.catch(() => undefined);
  tails.set(key, tail);
  void tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return run;
}
