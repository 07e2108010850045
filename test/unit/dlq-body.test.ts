/** How `warren dlq list` prints a dead letter's body preview: as it is when that reads right on one line. */
import { describe, expect, it } from 'vitest';
import { formatList, shownBody } from '../../runtime/cli/dlq';
import { describeDeadLetter } from '../../runtime/deadletters/describe';

describe('dlq list body', () => {
  it('prints JSON and plain text as they are, and quotes what a terminal would hide or break', () => {
    expect(shownBody('{"n":2}')).toBe('{"n":2}');
    expect(shownBody('Test!')).toBe('Test!');
    expect(shownBody('line one\nline two')).toBe('"line one\\nline two"');
    expect(shownBody(' padded ')).toBe('" padded "');
    expect(shownBody('\u001b[31mred')).toBe('"\\u001b[31mred"');
    expect(shownBody('')).toBe('""');
  });

  it('names a letter without a message id by the key `dlq replay --id` takes, and does not print binary bytes', () => {
    const letter = describeDeadLetter({ content: Buffer.from([0xff, 0xfe, 0xfd, 0xff]), properties: { headers: { 'x-warren-reason': 'error' } } }, 'flaky');
    const text = formatList({ queue: 'flaky.dead', total: 1, letters: [letter] });
    expect(letter.key).toMatch(/^~[0-9a-f]{16}$/);
    expect(text).toContain(`#1 ${letter.key} (no message id)`);
    expect(text).toContain('body:     (4 bytes, not UTF-8 text;');
    expect(text).not.toContain('\uFFFD');
  });

  it("shows where the error was thrown and the producer's own headers, not Warren's or the broker's", () => {
    const headers = {
      trace: 'abc123',
      tenant: 't9',
      'x-warren-reason': 'error',
      'x-warren-error': 'card declined',
      'x-warren-stack': 'Error: card declined\n    at charge (functions/pay.ts:12:11)\n    at run (warren)',
      'x-death': [{ count: 1 }],
    };
    const letter = describeDeadLetter({ content: Buffer.from('{}'), properties: { messageId: 'm1', headers } }, 'pay');
    const text = formatList({ queue: 'pay.dead', total: 1, letters: [letter] });
    expect(text).toContain('   thrown:   charge (functions/pay.ts:12:11)\n');
    expect(text).toContain('   headers:  trace=abc123, tenant=t9\n');
  });
});
