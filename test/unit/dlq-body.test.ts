/** How `warren dlq list` prints a dead letter's body preview: as it is when that reads right on one line. */
import { describe, expect, it } from 'vitest';
import { shownBody } from '../../runtime/cli/dlq';

describe('dlq list body', () => {
  it('prints JSON and plain text as they are, and quotes what a terminal would hide or break', () => {
    expect(shownBody('{"n":2}')).toBe('{"n":2}');
    expect(shownBody('Test!')).toBe('Test!');
    expect(shownBody('line one\nline two')).toBe('"line one\\nline two"');
    expect(shownBody(' padded ')).toBe('" padded "');
    expect(shownBody('\u001b[31mred')).toBe('"\\u001b[31mred"');
    expect(shownBody('')).toBe('""');
  });
});
