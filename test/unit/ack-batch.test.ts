/** Coalesced acks (runtime/replica/ack-batch.ts): fewer frames, and never an ack for a running message. */
import { stat } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { AckBatch, IDLE_MS, type AckChannel } from '../../runtime/replica/ack-batch';

type Frame = { ack: number; multiple: boolean } | { nack: number; requeue: boolean };

/** A channel that records frames, and a scheduler that flushes only when the test says so. */
function setUp() {
  const frames: Frame[] = [];
  const channel: AckChannel = {
    ack: (tag, multiple) => frames.push({ ack: tag, multiple }),
    nack: (tag, requeue) => frames.push({ nack: tag, requeue }),
  };
  let scheduled: (() => void) | null = null;
  const batch = new AckBatch(channel, { schedule: (flush) => (scheduled = flush) });
  const turn = () => {
    const run = scheduled;
    scheduled = null;
    run?.();
  };
  return { frames, batch, turn };
}

/** The delivery tags a frame settles at the broker, given what the channel has settled before. */
function covered(frame: Frame, settledBefore: ReadonlySet<number>, delivered: number): number[] {
  if ('nack' in frame) return [frame.nack];
  if (!frame.multiple) return [frame.ack];
  const tags: number[] = [];
  for (let t = 1; t <= Math.min(frame.ack, delivered); t++) if (!settledBefore.has(t)) tags.push(t);
  return tags;
}

describe('AckBatch', () => {
  it('keeps every ack back while held (a drain fills the window before it cancels), counting them as unacked, and sends them on release', () => {
    const { frames, batch, turn } = setUp();
    for (const tag of [1, 2, 3]) batch.delivered(tag);
    batch.hold();
    batch.ack(1);
    batch.ack(2);
    turn();
    batch.flush();
    expect(frames).toEqual([]);
    expect(batch.unacked).toBe(3);
    batch.release();
    expect(frames).toEqual([{ ack: 2, multiple: true }]);
    expect(batch.unacked).toBe(1);
    batch.ack(3);
    turn();
    expect(frames.at(-1)).toEqual({ ack: 3, multiple: true });
  });

  it('sends even the acks held for a drain when the thread ends (a crash, process.exit): held, they were lost and their messages ran again', () => {
    const { frames, batch, turn } = setUp();
    for (const tag of [1, 2, 3]) batch.delivered(tag);
    batch.hold();
    batch.ack(1);
    batch.ack(2);
    turn();
    batch.flush();
    expect(frames).toEqual([]);
    batch.flush(true);
    expect(frames).toEqual([{ ack: 2, multiple: true }]);
    expect(batch.unacked).toBe(1);
  });

  it('sends the acks of one turn as one multiple ack when they are contiguous from the lowest', () => {
    const { frames, batch, turn } = setUp();
    for (const tag of [1, 2, 3, 4]) batch.delivered(tag);
    batch.ack(2);
    batch.ack(1);
    batch.ack(3);
    expect(frames).toEqual([]);
    turn();
    expect(frames).toEqual([{ ack: 3, multiple: true }]);
    expect(batch.outstanding).toBe(1);
  });

  it('acks singly what is settled beyond a message still running', () => {
    const { frames, batch, turn } = setUp();
    for (const tag of [1, 2, 3, 4]) batch.delivered(tag);
    batch.ack(1);
    batch.ack(3);
    batch.ack(4);
    turn();
    expect(frames).toEqual([
      { ack: 3, multiple: false },
      { ack: 4, multiple: false },
      { ack: 1, multiple: true },
    ]);
  });

  it('flushes pending acks before a nack, so the nack never overtakes them', () => {
    const { frames, batch } = setUp();
    for (const tag of [1, 2]) batch.delivered(tag);
    batch.ack(1);
    batch.nack(2, true);
    expect(frames).toEqual([
      { ack: 1, multiple: true },
      { nack: 2, requeue: true },
    ]);
  });

  it('sends nothing once its channel is gone (the broker requeued everything)', () => {
    const { frames, batch, turn } = setUp();
    for (const tag of [1, 2]) batch.delivered(tag);
    batch.ack(1);
    batch.kill();
    batch.ack(2);
    batch.nack(2, true);
    turn();
    expect(frames).toEqual([]);
    expect(batch.outstanding).toBe(0);
  });

  it('with a prefetch window, holds the acks of fast handlers until half the window is settled', () => {
    vi.useFakeTimers();
    try {
      const frames: Frame[] = [];
      let scheduled: (() => void) | null = null;
      const turn = () => scheduled?.();
      const channel: AckChannel = { ack: (tag, multiple) => frames.push({ ack: tag, multiple }), nack: () => undefined };
      const batch = new AckBatch(channel, { window: 10, schedule: (f) => (scheduled = f) });
      // Each handler finishes as soon as its message arrives.
      const handled = (tag: number) => (batch.delivered(tag), batch.ack(tag));
      for (const tag of [1, 2, 3, 4]) handled(tag);
      turn();
      expect(frames, 'four of a window of ten settled: they wait for more').toEqual([]);
      handled(5);
      expect(frames, 'five of ten: they leave at once').toEqual([{ ack: 5, multiple: true }]);
      handled(6);
      turn();
      expect(frames).toHaveLength(1);
      vi.advanceTimersByTime(IDLE_MS);
      expect(frames, 'nothing more settled for a moment: the rest leave').toEqual([
        { ack: 5, multiple: true },
        { ack: 6, multiple: true },
      ]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('with a prefetch window, sends in the same pass when slow handlers hold half of it', () => {
    const frames: Frame[] = [];
    let scheduled: (() => void) | null = null;
    const passes: (() => void)[] = [];
    const batch = new AckBatch(
      { ack: (tag, multiple) => frames.push({ ack: tag, multiple }), nack: () => undefined },
      { window: 10, schedule: (f) => (scheduled = f), afterIo: (f) => passes.push(f) },
    );
    for (let tag = 1; tag <= 10; tag++) batch.delivered(tag);
    for (const over of passes.splice(0)) over(); // the delivering pass is over
    batch.ack(1);
    scheduled!();
    expect(frames, 'not before the pass that settled it has run its timers and I/O').toEqual([]);
    for (const over of passes.splice(0)) over();
    expect(frames).toEqual([{ ack: 1, multiple: true }]);
  });

  it('with a prefetch window, sends at once what finished in a pass of the event loop that brought no delivery (a timer, I/O)', () => {
    const frames: Frame[] = [];
    let scheduled: (() => void) | null = null;
    let ioOver: (() => void) | null = null;
    const turn = () => {
      const run = scheduled;
      scheduled = null;
      run?.();
    };
    const batch = new AckBatch(
      { ack: (tag, multiple) => frames.push({ ack: tag, multiple }), nack: () => undefined },
      { window: 10, schedule: (f) => (scheduled = f), afterIo: (f) => (ioOver = f) },
    );
    for (const tag of [1, 2, 3]) batch.delivered(tag);
    turn();
    ioOver!();
    // later, in a pass of its own, two handlers finish (their timers came due together) while one still runs
    batch.ack(1);
    turn();
    batch.ack(2);
    turn();
    expect(frames, 'both wait for the end of their pass').toEqual([]);
    ioOver!();
    expect(frames, 'and leave as one frame').toEqual([{ ack: 2, multiple: true }]);
  });

  it('with a prefetch window, on the real event loop: acks of handlers settling in promise jobs after their delivery wait, those of a timer leave at once', async () => {
    const frames: Frame[] = [];
    const batch = new AckBatch({ ack: (tag, multiple) => frames.push({ ack: tag, multiple }), nack: () => undefined }, { window: 100 });
    // A socket read delivers 10 messages in an I/O callback; each async handler settles in a promise
    // job queued by it, after the end of that turn's process.nextTick queue.
    await new Promise<void>((resolve) =>
      stat('.', () => {
        for (let tag = 1; tag <= 10; tag++) {
          batch.delivered(tag);
          void Promise.resolve().then(() => batch.ack(tag));
        }
        resolve();
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(frames, '10 of a window of 100 settled, and the broker still feeding: they wait').toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS + 5));
    expect(frames, 'nothing more came for a moment: they leave as one frame').toEqual([{ ack: 10, multiple: true }]);
    // Handlers that finish in timers, in a pass that delivered nothing: their acks leave in that
    // pass, once its timers have run, the ones of timers due together in one frame.
    batch.delivered(11);
    batch.delivered(12);
    batch.delivered(13);
    await new Promise((resolve) => setImmediate(resolve));
    let inTheSamePass: Frame[] = [];
    await new Promise<void>((resolve) => {
      setTimeout(() => batch.ack(11), 1);
      setTimeout(() => batch.ack(12), 1);
      setTimeout(() => {
        // the first check phase after the timers above
        setImmediate(() => {
          inTheSamePass = [...frames];
          resolve();
        });
      }, 1);
      // Each timer's start is read from the clock when it is set, so on a loaded machine the
      // millisecond may turn between the two: hold the loop until both are due, so that they
      // come due together, in one timers phase, as the test means.
      const until = performance.now() + 3;
      while (performance.now() < until);
    });
    expect(inTheSamePass).toEqual([
      { ack: 10, multiple: true },
      { ack: 12, multiple: true },
    ]);
    expect(batch.outstanding).toBe(1);
  });

  it('never covers an unsettled delivery, and settles each delivery exactly once, whatever the order of settlements', () => {
    // A run: n deliveries, settled in a random order (each an ack or a requeue), with event-loop turns
    // (flushes) at random points in between; new deliveries may arrive between settlements.
    const run = fc.integer({ min: 1, max: 40 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        order: fc.shuffledSubarray(
          [...Array(n).keys()].map((i) => i + 1),
          { minLength: n, maxLength: n },
        ),
        nacks: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        turns: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        arrivals: fc.array(fc.integer({ min: 0, max: n }), { minLength: n, maxLength: n }),
      }),
    );
    fc.assert(
      fc.property(run, ({ n, order, nacks, turns, arrivals }) => {
        const { frames, batch, turn } = setUp();
        let delivered = 0;
        const deliverUpTo = (k: number) => {
          while (delivered < k) batch.delivered(++delivered);
        };
        const settledByApp = new Set<number>();
        const settledAtBroker = new Set<number>();
        let seen = 0;
        const check = () => {
          for (; seen < frames.length; seen++) {
            for (const tag of covered(frames[seen]!, settledAtBroker, delivered)) {
              // the property: a frame only ever settles what the application settled, and only once
              expect(settledByApp.has(tag), `tag ${tag} covered while unsettled`).toBe(true);
              expect(settledAtBroker.has(tag), `tag ${tag} settled twice`).toBe(false);
              settledAtBroker.add(tag);
            }
          }
        };
        order.forEach((tag, i) => {
          deliverUpTo(Math.max(tag, arrivals[i]!));
          settledByApp.add(tag);
          if (nacks[i]) batch.nack(tag, true);
          else batch.ack(tag);
          check();
          if (turns[i]) {
            turn();
            check();
          }
        });
        turn();
        check();
        deliverUpTo(n);
        expect([...settledAtBroker].sort((a, b) => a - b)).toEqual([...Array(n).keys()].map((i) => i + 1));
        expect(batch.outstanding).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
