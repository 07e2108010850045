/** `warren publish`: what the broker refuses about the message itself ends the command at once, said plainly; a lost node does not. */
import { describe, expect, it } from 'vitest';
import { refusalOf } from '../../runtime/cli/publish';
import { MAX_HEADER_BYTES, parseHeaders } from '../../runtime/cli/common';
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
