/**
 * An Error Warren makes itself, not the handler: a body it refuses before the handler runs, a
 * handler it stops waiting for, a delivery limit, a batch item the handler's result names. Its stack
 * would list only Warren's own (bundled) frames, which tell a person nothing, so the stack a dead
 * letter and the log carry says where the error came from instead.
 */
export function refusal(message: string, from: string): Error {
  const error = new Error(message);
  error.stack = `Error: ${message}\n    (${from}: no handler code to point at)`;
  return error;
}

export const BEFORE_THE_HANDLER = 'refused by Warren before the handler ran';
