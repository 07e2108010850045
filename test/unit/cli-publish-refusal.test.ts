/** `warren publish`: what the broker refuses about the message itself ends the command at once, said plainly; a lost node does not. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusalOf } from '../../runtime/cli/publish';
import { MAX_HEADER_BYTES, parseCount, parseHeaders, readMessageArgument, refuseLongName } from '../../runtime/cli/common';
import { WarrenError } from '../../runtime/errors';

describe('warren publish refusals', () => {
  it('reads a channel closed over the message as a refusal, with what the broker said, and a lost connection as none', () => {
    const closed = new Error(
      'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",longstr}"',
    );
    const refused = refusalOf(closed);
    expect(refused?.code).toBe('WARREN_E_PUBLISH_FAILED');
    expect(refused?.message).toContain('the broker refused the message: PRECONDITION_FAILED - invalid message');
    expect(refused?.details.hint).toContain('--header CC=queue-a,queue-b');
    expect(
      refusalOf(
        new Error('Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason \'shutdown\'"'),
      ),
    ).toBeNull();
    expect(refusalOf(new Error('Channel ended, no reply will be forthcoming'))).toBeNull();
  });

  it('sends CC and BCC as the lists of routing keys the broker takes', () => {
    expect(parseHeaders(['CC=audit,archive', 'BCC=spy', 'trace=a,b'])).toEqual({ CC: ['audit', 'archive'], BCC: ['spy'], trace: 'a,b' });
  });

  it('refuses headers over what a message can hold as bad input, naming the largest and not echoing it', () => {
    const big = 'a'.repeat(70_000);
    let thrown: unknown;
    try {
      parseHeaders(['trace=1', `x-big=${big}`]);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(WarrenError);
    const err = thrown as WarrenError;
    expect(err.code).toBe('WARREN_E_USAGE');
    expect(err.message).toBe(`--header values take 70,025 bytes; a message's headers hold at most ${MAX_HEADER_BYTES.toLocaleString('en')}`);
    expect(err.details.hint).toContain('nothing was sent; put large data (the largest here is --header x-big) in the message body');
    expect(err.format()).not.toContain('aaaa');
    expect(Object.keys(parseHeaders([`x-fits=${'a'.repeat(60_000)}`]))).toEqual(['x-fits']);
  });
});

describe('command-line numbers and names', () => {
  const refused = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(WarrenError);
      expect((err as WarrenError).code).toBe('WARREN_E_USAGE');
      return (err as WarrenError).message;
    }
    throw new Error('not refused');
  };

  it('takes only decimal digits: an empty value is not 0 (`scale FN ""` stopped a function), nor is 0x2 two', () => {
    expect(parseCount('3', 'replicas', 0)).toBe(3);
    expect(parseCount('0', 'replicas', 0)).toBe(0);
    expect(parseCount(' 12 ', '--count')).toBe(12);
    for (const bad of ['', ' ', '0x2', '0b1', '1e0', '1.5', '-1', 'abc', '99999999999999999999'])
      expect(refused(() => parseCount(bad, 'replicas', 0))).toBe(`replicas must be an integer >= 0 in decimal digits, got "${bad}"`);
  });

  it('refuses an exchange, routing key or header name over 255 bytes before anything is sent', () => {
    expect(refused(() => refuseLongName('the routing key', 'k'.repeat(256)))).toBe('the routing key is 256 bytes long; AMQP allows at most 255');
    expect(() => refuseLongName('the routing key', 'k'.repeat(255))).not.toThrow();
    // bytes, not characters
    expect(refused(() => refuseLongName('the exchange name', 'é'.repeat(128)))).toMatch(/256 bytes/);
    expect(refused(() => parseHeaders([`${'h'.repeat(300)}=1`]))).toMatch(/the header name is 300 bytes long/);
  });
});

describe('a message read from @file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'warren-msg-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('names the file, line and column of invalid JSON', async () => {
    await writeFile(join(dir, 'bad.json'), '{\n  "a": 1,\n}\n');
    await expect(readMessageArgument(`@${join(dir, 'bad.json')}`)).rejects.toThrow(
      `${join(dir, 'bad.json')}:3:1 is not valid JSON: Expected double-quoted property name`,
    );
  });

  it('refuses bytes that are not UTF-8, as text too, rather than send them replaced', async () => {
    await writeFile(join(dir, 'bin.dat'), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    await expect(readMessageArgument(`@${join(dir, 'bin.dat')}`, { text: true })).rejects.toThrow(/bin\.dat is not UTF-8 text: sent as text/);
    await writeFile(join(dir, 'text.txt'), 'héllo\n');
    expect(await readMessageArgument(`@${join(dir, 'text.txt')}`, { text: true })).toEqual({ value: 'héllo\n', text: 'héllo\n' });
  });
});
