import { describe, expect, it } from 'vitest';
import { invokeFunction } from '../../runtime/cli/invoke';
import { project } from '../fixtures/config/project';

describe('warren invoke on a batch function', () => {
  it('takes a JSON array and says what a replica would do with each item', async () => {
    const dir = await project({
      'queues.yaml': 'functions:\n  ingest: { batch: { size: 10 }, schema: { type: object, required: [id] } }\n',
      'functions/ingest.ts': `import type { BatchHandler } from 'warren';
const handler: BatchHandler<{ id: number }> = async (items) => ({ failed: items.flatMap((item, i) => (item.body.id === 2 ? [i] : [])) });
export default handler;
`,
    });
    const result = await invokeFunction(dir, 'ingest', [{ id: 1 }, { id: 2 }, { nope: true }], {});
    expect(result.items?.map((i) => [i.outcome.kind, i.settlement.action])).toEqual([
      ['ok', 'ack'],
      ['error', 'retry'],
      ['schema', 'dead'],
    ]);
    expect(result.ok).toBe(false);
    // An item refused before the handler shifts the handler's numbering: each item says where it was in the call.
    const shifted = await invokeFunction(dir, 'ingest', [{ nope: true }, { id: 1 }, { id: 2 }], {});
    expect(shifted.items?.map((i) => [i.index, i.handlerIndex, i.outcome.kind === 'ok' ? 'ok' : i.outcome.error.message])).toEqual([
      [0, undefined, expect.stringMatching(/^schema validation failed/)],
      [1, 0, 'ok'],
      [2, 1, 'the batch handler reported items[1] as failed'],
    ]);
    await expect(invokeFunction(dir, 'ingest', { id: 1 }, {})).rejects.toThrow(/JSON array/);
    // A replica never calls a batch handler with no items: an empty array says so rather than printing nothing.
    await expect(invokeFunction(dir, 'ingest', [], {})).rejects.toMatchObject({
      code: 'WARREN_E_USAGE',
      message: expect.stringMatching(/at least one message/),
    });
  });

  it('runs each item again alone when the call times out, as a replica does: only the hanging item fails', async () => {
    const dir = await project({
      'queues.yaml': 'functions:\n  ingest: { batch: { size: 10 }, timeout: 100ms }\n',
      'functions/ingest.ts': `import type { BatchHandler } from 'warren';
const handler: BatchHandler<{ hang?: boolean }> = async (items, ctx) => {
  if (items.some((item) => item.body.hang)) await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
};
export default handler;
`,
    });
    const result = await invokeFunction(dir, 'ingest', [{}, { hang: true }, {}], {});
    expect(result.items?.map((i) => [i.outcome.kind, i.settlement.action])).toEqual([
      ['ok', 'ack'],
      ['error', 'retry'],
      ['ok', 'ack'],
    ]);
    expect(result.items?.[1]?.outcome).toMatchObject({ timedOut: true });
  });

  it('gives a batch whose call timed out a timeout of its own for the run alone: a handler ignoring ctx.signal is a timeout, not a blocked loop', async () => {
    const dir = await project({
      'queues.yaml': 'functions:\n  ingest: { batch: { size: 10 }, timeout: 1500ms }\n',
      'functions/ingest.ts': `import type { BatchHandler } from 'warren';
const handler: BatchHandler<{ hang?: boolean }> = async (items) => {
  if (items.some((item) => item.body.hang)) await new Promise((resolve) => setTimeout(resolve, 30_000));
};
export default handler;
`,
    });
    // The call and then the hanging item alone: two timeouts, past the watchdog's one timeout and its grace.
    const result = await invokeFunction(dir, 'ingest', [{ hang: true }, {}, {}], {});
    expect('died' in result ? result.died : undefined).toBeUndefined();
    expect(result.items?.map((i) => [i.outcome.kind, i.settlement.action])).toEqual([
      ['error', 'retry'],
      ['ok', 'ack'],
      ['ok', 'ack'],
    ]);
    expect(result.items?.[0]?.outcome).toMatchObject({ timedOut: true });
  });

  it('in an ordered function, says the items after a failed one run again in place with it', async () => {
    const dir = await project({
      'queues.yaml': 'functions:\n  ledger: { batch: { size: 10 }, ordered: true, retry: { attempts: 3, delay: 1s } }\n',
      'functions/ledger.ts': `import type { BatchHandler } from 'warren';
const handler: BatchHandler<{ id: number; reject?: boolean }> = async (items) => ({
  failed: items.flatMap((item, i) => (item.body.id === 2 ? [i] : [])),
  rejected: items.flatMap((item, i) => (item.body.reject ? [i] : [])),
});
export default handler;
`,
    });
    const result = await invokeFunction(dir, 'ledger', [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4, reject: true }], {});
    expect(result.items?.map((i) => [i.settlement.action, i.behind])).toEqual([
      ['ack', undefined],
      ['requeue', undefined],
      ['ack', 1],
      ['dead', undefined],
    ]);
  });
});
