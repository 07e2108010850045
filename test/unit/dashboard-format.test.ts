import { describe, expect, it } from 'vitest';
import { plural } from '../../runtime/dashboard/format';

describe('plural', () => {
  it('says 1 match, 2 matches, 1 exchange, 3 exchanges, 1,200 dead letters', () => {
    expect(plural(1, 'match')).toBe('1 match');
    expect(plural(0, 'match')).toBe('0 matches');
    expect(plural(1, 'exchange')).toBe('1 exchange');
    expect(plural(3, 'exchange')).toBe('3 exchanges');
    expect(plural(1200, 'dead letter')).toBe('1,200 dead letters');
  });
});
