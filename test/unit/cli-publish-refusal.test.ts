/** `warren publish`: what the broker refuses about the message itself ends the command at once, said plainly; a lost node does not. */
import { describe, expect, it } from 'vitest';
import { refusalOf } from '../../runtime/cli/publish';
import { parseHeaders } from '../../runtime/cli/common';

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
});
