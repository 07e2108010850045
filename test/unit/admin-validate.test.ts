/** The admin API's input checks (runtime/admin/validate.ts) against any value a client can send. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { functionName, integerField, isReply, objectBody } from '../../runtime/admin/validate';

const rule = { min: 0, max: 256, example: '{"replicas": 3}' };

describe('admin input checks', () => {
  it('integerField: a real integer in range, or a 400, for any JSON body and query', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(fc.string(), { nil: undefined }), (value, query) => {
        const params = new URLSearchParams(query === undefined ? '' : { replicas: query });
        const got = integerField({ replicas: value }, params, 'replicas', rule);
        if (isReply(got)) {
          expect(got.status).toBe(400);
          expect((got.body as { code: string }).code).toBe('WARREN_E_USAGE');
        } else {
          expect(typeof value).toBe('number');
          expect(Number.isInteger(got)).toBe(true);
          expect(got).toBeGreaterThanOrEqual(0);
          expect(got).toBeLessThanOrEqual(256);
        }
      }),
      { numRuns: 1_000 },
    );
    for (const forged of [[], false, true, null, '3', {}, -1, 1.5, 1e300])
      expect(isReply(integerField({ replicas: forged }, new URLSearchParams(), 'replicas', rule))).toBe(true);
    expect(integerField({ replicas: 3 }, new URLSearchParams(), 'replicas', rule)).toBe(3);
    expect(integerField(undefined, new URLSearchParams('replicas=4'), 'replicas', rule)).toBe(4);
    expect(integerField(undefined, new URLSearchParams(), 'replicas', rule)).toBeUndefined();
  });

  it('functionName: decoded, or a 400 for a malformed escape, a control character or over 255 bytes', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (segment) => {
        const got = functionName(segment);
        if (isReply(got)) expect(got.status).toBe(400);
        else expect(Buffer.byteLength(got)).toBeLessThanOrEqual(255);
      }),
      { numRuns: 1_000 },
    );
    expect(functionName('print-message')).toBe('print-message');
    expect(functionName('my%20fn')).toBe('my fn');
    expect(functionName('..%2F..')).toBe('../..'); // not a path: an unknown function, 404 later
    for (const bad of ['%', '%E0%A4%A', '%00', '', 'a'.repeat(256)]) expect(isReply(functionName(bad))).toBe(true);
  });

  it('objectBody: an object or nothing', () => {
    expect(objectBody(undefined)).toBeUndefined();
    expect(objectBody({ a: 1 })).toEqual({ a: 1 });
    for (const bad of [[1], 'x', 3, null, true]) expect(isReply(objectBody(bad))).toBe(true);
  });
});
