import { describe, expect, it } from 'vitest';
import { plural, prettyBody } from '../../runtime/dashboard/format';

describe('plural', () => {
  it('says 1 match, 2 matches, 1 exchange, 3 exchanges, 1,200 dead letters', () => {
    expect(plural(1, 'match')).toBe('1 match');
    expect(plural(0, 'match')).toBe('0 matches');
    expect(plural(1, 'exchange')).toBe('1 exchange');
    expect(plural(3, 'exchange')).toBe('3 exchanges');
    expect(plural(1200, 'dead letter')).toBe('1,200 dead letters');
  });
});

describe('prettyBody', () => {
  it('indents JSON when only spaces change, and shows a body whose numbers JavaScript would alter as it is', () => {
    expect(prettyBody('{"a":1,"b":"x y"}', 'utf8')).toBe('{\n  "a": 1,\n  "b": "x y"\n}');
    expect(prettyBody('{ "s": "a \\" b" }', 'utf8')).toBe('{\n  "s": "a \\" b"\n}');
    const exact = '{"orderId":12345678901234567890,"price":1.10}';
    expect(prettyBody(exact, 'utf8')).toBe(exact);
    expect(prettyBody('not json', 'utf8')).toBe('not json');
    expect(prettyBody('AAEC', 'base64')).toBe('AAEC');
  });
});
