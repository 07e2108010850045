/**
 * A message whose settlement failed stays in hand and its step is tried again (runtime/replica/hold.ts),
 * but only while trying again can still reach the broker: not once its channel is gone, not at
 * shutdown, not once the drain has handed it back.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Settle } from '../../runtime/replica/delivery';
import { GAVE_BACK, holdAndTryAgain } from '../../runtime/replica/hold';

function held(holds = () => true) {
  const frames: string[] = [];
  const settle = new Settle({ ack: () => void frames.push('ack'), nack: () => void frames.push('requeue'), holds }, 1);
  const shutdown = new AbortController();
  return { frames, settle, shutdown, m: { settle, shutdown: shutdown.signal, log: pino({ level: 'silent' }), messageId: 'm1' } };
}

describe('holdAndTryAgain', () => {
  it('tries the step again until it succeeds, and settles nothing itself', async () => {
    const { frames, m } = held();
    let tries = 0;
    const result = await holdAndTryAgain(
      new Error('refused'),
      async () => {
        if (++tries < 3) throw new Error('refused');
        return 'acked';
      },
      m,
    );
    expect(result).toBe('acked');
    expect(tries).toBe(3);
    expect(frames).toEqual([]);
  });

  it('gives the message back at once, without trying again, when its channel is gone', async () => {
    let open = true;
    const { frames, m } = held(() => open);
    open = false;
    let tries = 0;
    const result = await holdAndTryAgain(new Error('channel closed'), async () => void tries++, m);
    expect(result).toBe(GAVE_BACK);
    expect(tries).toBe(0);
    expect(frames).toEqual(['requeue']);
  });

  it('gives it back when the replica shuts down while it waits', async () => {
    const { frames, m, shutdown } = held();
    let tries = 0;
    const pending = holdAndTryAgain(
      new Error('refused'),
      async () => {
        tries++;
        throw new Error('refused');
      },
      m,
    );
    setTimeout(() => shutdown.abort(), 150);
    expect(await pending).toBe(GAVE_BACK);
    expect(tries).toBe(1);
    expect(frames).toEqual(['requeue']);
  });

  it('does not settle again a message the drain handed back meanwhile', async () => {
    const { frames, m, settle } = held();
    let tries = 0;
    const pending = holdAndTryAgain(new Error('refused'), async () => void tries++, m);
    settle.requeue();
    expect(await pending).toBe(GAVE_BACK);
    expect(tries).toBe(0);
    expect(frames).toEqual(['requeue']);
  });
});
