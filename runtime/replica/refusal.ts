/**
 * Stacks for Errors Warren makes itself. Made by Warren, an Error's stack would list only Warren's own
 * (bundled) frames, which tell a person nothing: the stack says instead, in one note, where the error
 * came from or why there is none.
 */

/** `Error: <message>` and, on the line a frame would take, `(<note>)`. */
export function noteAsStack(message: string, note: string): string {
  return `Error: ${message}\n    (${note})`;
}

/**
 * An Error Warren makes itself, not the handler: a body it refuses before the handler runs, a
 * handler it stops waiting for, a delivery limit, a batch item the handler's result names.
 */
export function refusal(message: string, from: string): Error {
  const error = new Error(message);
  error.stack = noteAsStack(message, `${from}: no handler code to point at`);
  return error;
}

export const BEFORE_THE_HANDLER = 'refused by Warren before the handler ran';
