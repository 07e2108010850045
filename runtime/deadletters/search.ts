/**
 * Pure: does a dead letter match what a person typed in the dashboard's search box? Every word must
 * appear (case-insensitive) in its error, reason, message id, function, route or body.
 */
import type { DeadLetter } from './describe';

/** Only the start of a huge body is searched. */
export const SEARCHED_BODY_BYTES = 64 * 1024;

export function matchesSearch(letter: DeadLetter, body: Buffer, search: string): boolean {
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const text = [
    letter.key,
    letter.messageId,
    letter.error,
    letter.reason,
    letter.function,
    letter.originalExchange,
    letter.originalRoutingKey,
    body.subarray(0, SEARCHED_BODY_BYTES).toString('utf8'),
  ]
    .filter((s): s is string => typeof s === 'string')
    .join('\n')
    .toLowerCase();
  return words.every((w) => text.includes(w));
}
