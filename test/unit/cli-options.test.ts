/** The command line's pure parts: what `--only`, `--delay`, the log colour and `invoke`'s report decide from their input. */
import { describe, expect, it } from 'vitest';
import { parseOnly } from '../../runtime/cli/start';
import { parseDelayOption } from '../../runtime/cli/publish';
import { describeDuration } from '../../runtime/config/units';
import { logColour } from '../../runtime/log';
import { describeDeath, describePublish } from '../../runtime/cli/invoke';

describe('start --only', () => {
  it('reads the names, trimmed', () => {
    expect(parseOnly('a')).toEqual(['a']);
    expect(parseOnly(' a, b ,')).toEqual(['a', 'b']);
  });

  it.each(['', ',', ' , ', '  '])('refuses %j (an unset variable) instead of running every function', (value) => {
    expect(() => parseOnly(value)).toThrow(/--only names no function/);
  });
});

describe('publish --delay', () => {
  it('reads a duration, or a bare number as milliseconds', () => {
    expect(parseDelayOption(undefined)).toBeUndefined();
    expect(parseDelayOption('1500')).toBe(1_500);
    expect(parseDelayOption('90s')).toBe(90_000);
  });

  it.each(['0', '0s', '0ms'])('takes %s as no delay', (value) => expect(parseDelayOption(value)).toBeUndefined());

  it('refuses what is not a duration', () => expect(() => parseDelayOption('soon')).toThrow(/not a duration/));
});

describe('describeDuration', () => {
  it.each([
    [0, '0 ms'],
    [250, '250 ms'],
    [1_000, '1 s'],
    [1_500, '1.5 s'],
    [2_000, '2 s'],
    [61_234, '1 min 1.234 s'],
    [90_000, '1 min 30 s'],
    [5_400_000, '1 h 30 min'],
    [131_071_000, '36 h 24 min 31 s'],
  ])('%d ms → %s', (ms, text) => expect(describeDuration(ms)).toBe(text));
});

describe('logColour', () => {
  it('colours a terminal, not a file or a pipe', () => {
    expect(logColour({}, true)).toBe(true);
    expect(logColour({}, false)).toBe(false);
    expect(logColour({ TERM: 'dumb' }, true)).toBe(false);
  });

  it('follows NO_COLOR, then FORCE_COLOR', () => {
    expect(logColour({ NO_COLOR: '1' }, true)).toBe(false);
    expect(logColour({ NO_COLOR: '' }, true)).toBe(true);
    expect(logColour({ FORCE_COLOR: '1' }, false)).toBe(true);
    expect(logColour({ FORCE_COLOR: '' }, false)).toBe(true);
    expect(logColour({ FORCE_COLOR: '0' }, true)).toBe(false);
    expect(logColour({ FORCE_COLOR: 'false' }, true)).toBe(false);
    expect(logColour({ NO_COLOR: '1', FORCE_COLOR: '1' }, true)).toBe(false);
  });
});

describe('warren invoke', () => {
  const fn = { redeliveryLimit: 3, deadLetter: true, ordered: false, batch: false };

  it('says what a death would do to the message under warren start, and that invoke redelivers nothing', () => {
    expect(describeDeath({ kind: 'exit', code: 3 }, fn)).toBe(
      'the handler exited the process with code 3; invoke ran it once and redelivers nothing; under `warren start` this would kill its replica, and the message would go back to the queue and run again, alone, redelivered up to redeliveryLimit (3) times, then dead-lettered',
    );
    expect(describeDeath({ kind: 'blocked', timeoutMs: 1_500 }, { ...fn, redeliveryLimit: 5, deadLetter: false })).toBe(
      'the handler blocked its event loop past its timeout (1.5 s) and was stopped; invoke ran it once and redelivers nothing; under `warren start` the watchdog would end its replica, and the message would go back to the queue and run again, alone, redelivered up to redeliveryLimit (5) times, then dropped (deadLetter is false)',
    );
    expect(describeDeath({ kind: 'exit', code: 1 }, { ...fn, ordered: true })).toContain('run again in place (ordered: nothing overtakes it)');
    expect(describeDeath({ kind: 'exit', code: 1 }, { ...fn, batch: true })).toBe(
      'the handler exited the process with code 1; invoke ran the batch once and redelivers nothing; under `warren start` this would kill its replica, and each item of the batch would go back to the queue and run again alone, as a batch of one: the items that pass are settled as usual, one that kills every replica it runs in is redelivered up to redeliveryLimit (3) times, then dead-lettered',
    );
    expect(describeDeath({ kind: 'crash', reason: 'out of memory (limit 256 MiB)' }, fn)).toMatch(/^the handler's thread died: out of memory/);
  });

  it('shows a publish as the handler wrote it', () => {
    expect(describePublish({ exchange: 'delx', routingKey: 'delayed.x', body: { id: 1 }, delayMs: 2_000 })).toBe('publish delx delayed.x after 2 s {"id":1}');
    expect(describePublish({ exchange: '', routingKey: 'q', body: 'hi' })).toBe('publish (default) q "hi"');
  });
});
