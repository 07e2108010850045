import { describe, expect, it } from 'vitest';
import { ago, axisLabels, bytes, count, ms, plural, prettyBody, rate } from '../../runtime/dashboard/format';

describe('plural', () => {
  it('says 1 match, 2 matches, 1 exchange, 3 exchanges, 1,200 dead letters', () => {
    expect(plural(1, 'match')).toBe('1 match');
    expect(plural(0, 'match')).toBe('0 matches');
    expect(plural(1, 'exchange')).toBe('1 exchange');
    expect(plural(3, 'exchange')).toBe('3 exchanges');
    expect(plural(1200, 'dead letter')).toBe('1,200 dead letters');
  });
});

describe('numbers on the page', () => {
  it('counts and rates: three significant digits, k and M, no trailing .0, never 1000.0k', () => {
    const cases: Array<[number, string]> = [
      [0, '0'],
      [0.04, '0.04'],
      [0.5, '0.5'],
      [3, '3'],
      [9.94, '9.9'],
      [98.4, '98'],
      [4267, '4,267'],
      [9999, '9,999'],
      [10_000, '10k'],
      [12_345, '12.3k'],
      [99_960, '100k'],
      [999_999, '1M'],
      [1_234_567, '1.2M'],
      [45_000_000, '45M'],
    ];
    for (const [n, text] of cases) {
      expect(count(n), String(n)).toBe(text);
      expect(rate(n), String(n)).toBe(text);
    }
    expect(count(null)).toBe('–');
    expect(rate(undefined)).toBe('–');
  });

  it('durations: 0 ms, 0.4 ms, 175 ms, 1.7 s, 12 s, 2.5 min', () => {
    expect(ms(0)).toBe('0 ms');
    expect(ms(0.04)).toBe('0.04 ms');
    expect(ms(0.4)).toBe('0.4 ms');
    expect(ms(3)).toBe('3 ms');
    expect(ms(3.14)).toBe('3.1 ms');
    expect(ms(175.2)).toBe('175 ms');
    expect(ms(999.7)).toBe('1 s');
    expect(ms(1_700)).toBe('1.7 s');
    expect(ms(12_400)).toBe('12 s');
    expect(ms(150_000)).toBe('2.5 min');
    expect(ms(null)).toBe('–');
  });

  it('sizes: 1 byte, 86 bytes, 12.4 KB, 3.1 MB', () => {
    expect(bytes(1)).toBe('1 byte');
    expect(bytes(86)).toBe('86 bytes');
    expect(bytes(1_000)).toBe('1 KB');
    expect(bytes(12_400)).toBe('12.4 KB');
    expect(bytes(124_000)).toBe('124 KB');
    expect(bytes(3_140_000)).toBe('3.1 MB');
  });

  it('times ago: just now, 42 s, 59 min (never "60 min"), 2 h, 3 d', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    const at = (s: number) => new Date(now - s * 1000).toISOString();
    expect(ago(at(2), now)).toBe('just now');
    expect(ago(at(42), now)).toBe('42 s ago');
    expect(ago(at(3_570), now)).toBe('59 min ago');
    expect(ago(at(2 * 3600 + 100), now)).toBe('2 h ago');
    expect(ago(at(3 * 86_400), now)).toBe('3 d ago');
    expect(ago(null, now)).toBe('time unknown');
  });
});

describe('axisLabels', () => {
  it('puts the unit on every tick but 0, and never writes "0.0 ms"', () => {
    expect(axisLabels([0, 10, 20], 'ms')).toEqual(['0', '10 ms', '20 ms']);
    expect(axisLabels([0, 0.5, 1], 'ms')).toEqual(['0', '0.5 ms', '1.0 ms']);
    expect(axisLabels([0, 250, 500, 750], 'ms')).toEqual(['0', '250 ms', '500 ms', '750 ms']);
    expect(axisLabels([0, 500, 1000, 1500], 'ms')).toEqual(['0', '0.5 s', '1.0 s', '1.5 s']);
    expect(axisLabels([0, 1000, 2000], 'ms')).toEqual(['0', '1 s', '2 s']);
    expect(axisLabels([0, 250, 500, 1000, 1250], 'ms')).toEqual(['0', '0.25 s', '0.50 s', '1.00 s', '1.25 s']);
  });

  it('counts and rates: thousands grouped, k and M past 10,000', () => {
    expect(axisLabels([0, 0.5, 1], 'rate')).toEqual(['0', '0.5', '1.0']);
    expect(axisLabels([0, 2000, 4000], 'count')).toEqual(['0', '2,000', '4,000']);
    expect(axisLabels([0, 20_000, 40_000], 'count')).toEqual(['0', '20k', '40k']);
    expect(axisLabels([0, 2_500_000, 5_000_000], 'rate')).toEqual(['0', '2.5M', '5.0M']);
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
