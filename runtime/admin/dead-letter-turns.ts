/**
 * The dead-letter tools, one at a time per dead-letter queue. Reading a queue takes its messages
 * unacked and hands them back at the end (runtime/deadletters/list.ts): two reads at once would each
 * see part of the queue (a page repeating another's letters, a total too small), a purge meanwhile
 * would miss the messages a read holds, and an open or a replay would not find them. So the
 * dashboard's requests on one queue wait their turn; the queue's depth is not read while a turn
 * holds its messages (`busy`), so the page does not show the dead letters dropping as people look.
 */
import type { DeadLetterTools } from './dead-letter-routes';
import { PerKeyLock } from '../lib/per-key-lock';

export interface DeadLetterTurns extends DeadLetterTools {
  /** a read, replay or purge of `queue` is under way */
  busy(queue: string): boolean;
}

export function oneAtATime(tools: DeadLetterTools): DeadLetterTurns {
  const lock = new PerKeyLock();
  return {
    browse: (url, queue, options) => lock.run(queue, () => tools.browse(url, queue, options)),
    find: (url, queue, key) => lock.run(queue, () => tools.find(url, queue, key)),
    replay: (url, deadQueue, options) => lock.run(deadQueue, () => tools.replay(url, deadQueue, options)),
    purge: (url, queue) => lock.run(queue, () => tools.purge(url, queue)),
    busy: (queue) => lock.busy(queue),
  };
}
