/**
 * What `start` says when the broker refuses a declaration the preflight did not foresee, from the
 * broker's own words as rascal reports them: the refused part of queues.yaml and the broker's reason,
 * not "another process changed a queue", unless the refusal is about something that exists already.
 */
import { describe, expect, it } from 'vitest';
import { refusal } from '../../runtime/topology/declare';

const said = (operation: string, message: string) =>
  `Operation failed: ${operation}; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - ${message}"`;

describe('a refusal by the broker while declaring', () => {
  it("names a binding and the broker's reason, with a fix in queues.yaml", () => {
    const err = refusal(said('QueueBind', 'Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x'), null);
    expect(err.code).toBe('WARREN_E_CONFIG_CONFLICT');
    expect(err.message).toBe(
      'the broker refuses a binding of queues.yaml or rascal.json: Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x',
    );
    expect(err.details.hint).toContain("fix the binding's `arguments:`");
    expect(err.details.hint).not.toContain('another process');
  });

  it('names a queue or an exchange the same way', () => {
    expect(refusal(said('QueueDeclare', "invalid arg 'x-foo' for queue 'a'"), null).message).toMatch(/^the broker refuses a queue of queues.yaml/);
    expect(refusal(said('ExchangeDeclare', 'invalid arg'), null).message).toMatch(/^the broker refuses an exchange of queues.yaml/);
  });

  it('blames another process only for something that exists already and was found as wanted by the preflight', () => {
    const err = refusal(said('QueueDeclare', "inequivalent arg 'x-max-length' for queue 'a' in vhost 'v': received '10' but current is '20'"), null);
    expect(err.code).toBe('WARREN_E_TOPOLOGY_MISMATCH');
    expect(err.details.hint).toContain('another process changed a queue or exchange during start');
  });
});
