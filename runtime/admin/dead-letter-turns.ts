/**
 * The dead-letter tools, one at a time per dead-letter queue. Reading a queue takes its messages
 * unacked and hands them back at the end (runtime/deadletters/list.ts): two reads at once would each
 * see part of the queue (a page repeating another's letters, a total too small), a purge meanwhile
 * would miss the messages a read holds, and an open or a replay would not find them. So the
 * dashboard's requests on one queue wait their turn; the queue's depth is not read while a turn
 * holds its messages (`busy`), so the page does not show the dead letters dropping as people look.
 */
import type { DeadLetterTools } from './dead-letter-routes';

export interface DeadLetterTurns extends DeadLetterTools {
  /** a read, replay or purge of `queue` is under way */
  busy(queue: string): boolean;
}

export function oneAtATime(tools: DeadLetterTools): DeadLetterTurns {
  /** per queue: the last turn's end, and how many turns are running or waiting */
  const queues = new Map<string, { last: Promise<unknown>; turns: number }>();

  function turn<T>(queue: string, work: () => Promise<T>): Promise<T> {
    const entry = queues.get(queue) ?? { last: Promise.resolve(), turns: 0 };
    queues.set(queue, entry);
    entry.turns++;
    const mine = entry.last.then(work, work);
    entry.last = mine.then(
      () => undefined,
      () => undefined,
    );
    void entry.last.then(() => {
      if (--entry.turns === 0 && queues.get(queue) === entry) queues.delete(queue);
    });
    return mine;
  }

  return {
    browse: (url, queue, options) => turn(queue, () => tools.browse(url, queue, options)),
    find: (url, queue, key) => turn(queue, () => tools.find(url, queue, key)),
    replay: (url, deadQueue, options) => turn(deadQueue, () => tools.replay(url, deadQueue, options)),
    purge: (url, queue) => turn(queue, () => tools.purge(url, queue)),
    busy: (queue) => queues.has(queue),
  };
}
