import { describe, expect, it } from 'vitest';
import { oneAtATime } from '../../runtime/admin/dead-letter-turns';
import type { DeadLetterTools } from '../../runtime/admin/dead-letter-routes';

/** Tools whose every call waits until the test lets it end, recording when each starts. */
function heldTools() {
  const started: string[] = [];
  const release: Array<() => void> = [];
  const call = <T>(what: string, value: T) =>
    new Promise<T>((resolve) => {
      started.push(what);
      release.push(() => resolve(value));
    });
  const tools: DeadLetterTools = {
    browse: (_url, queue) => call(`browse ${queue}`, { queue, total: 0, matched: 0, offset: 0, limit: 20, scanned: 0, letters: [] }),
    find: (_url, queue) => call(`find ${queue}`, []),
    replay: (_url, queue) => call(`replay ${queue}`, { queue, target: 'a', replayed: 0, replayedKeys: [], kept: [], missing: [], remaining: 0 }),
    purge: (_url, queue) => call(`purge ${queue}`, 0),
  };
  return { tools, started, release };
}

const turn = () => new Promise((r) => setTimeout(r, 0));

describe('oneAtATime', () => {
  it('runs the requests on one dead-letter queue one after another, other queues meanwhile, and says when a queue is busy', async () => {
    const { tools, started, release } = heldTools();
    const turns = oneAtATime(tools);
    expect(turns.busy('a.dead')).toBe(false);
    const read = turns.browse('u', 'a.dead', {});
    const purge = turns.purge('u', 'a.dead');
    const other = turns.find('u', 'b.dead', 'k');
    await turn();
    expect(started).toEqual(['browse a.dead', 'find b.dead']);
    expect(turns.busy('a.dead')).toBe(true);
    release.shift()!();
    await read;
    await turn();
    expect(started).toEqual(['browse a.dead', 'find b.dead', 'purge a.dead']);
    release.shift()!();
    await other;
    release.shift()!();
    expect(await purge).toBe(0);
    await turn();
    expect(turns.busy('a.dead')).toBe(false);
    expect(turns.busy('b.dead')).toBe(false);
  });

  it('a request that fails does not hold up the next one', async () => {
    const { tools } = heldTools();
    const turns = oneAtATime({ ...tools, browse: () => Promise.reject(new Error('no broker')), purge: () => Promise.resolve(3) });
    await expect(turns.browse('u', 'a.dead', {})).rejects.toThrow('no broker');
    expect(await turns.purge('u', 'a.dead')).toBe(3);
  });
});
