/** The admin API's input checks (runtime/admin/validate.ts) against any value a client can send. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bodyHint, functionName, integerField, isReply, objectBody, onlyKeys } from '../../runtime/admin/validate';

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
    expect((objectBody([1], '{"limit": 10}') as { body: { hint: string } }).body.hint).toBe('send a JSON object, e.g. {"limit": 10}');
  });

  it('integerField: a number past JSON range (1e400 parses as Infinity) is said to be no finite whole number, not shown as null', () => {
    for (const [value, shown] of [
      [Infinity, 'Infinity'],
      [-Infinity, '-Infinity'],
    ] as const) {
      const got = integerField({ replicas: value }, new URLSearchParams(), 'replicas', rule);
      expect(isReply(got) && (got.body as { error: string }).error).toBe(`replicas must be an integer from 0 to 256, got ${shown}: not a finite whole number`);
    }
  });

  it('onlyKeys: nothing for known keys or no body, a 400 naming every unknown key', () => {
    expect(onlyKeys(undefined, ['replicas'], '{"replicas": 3}')).toBeUndefined();
    expect(onlyKeys({ replicas: 2 }, ['replicas'], '{"replicas": 3}')).toBeUndefined();
    const refused = onlyKeys({ replicas: 2, extra: 1, replica: 3 }, ['replicas'], '{"replicas": 3}');
    expect(refused?.status).toBe(400);
    expect(refused?.body).toEqual({
      error: 'unknown keys "extra", "replica" in the request body',
      code: 'WARREN_E_USAGE',
      hint: 'the body takes "replicas" only: send {"replicas": 3}',
    });
  });

  it("bodyHint: the route's own example, and none for a route that reads no body", () => {
    expect(bodyHint('/functions/echo/scale')).toContain('{"replicas": 3}');
    expect(bodyHint('/functions/echo/dead-letters/replay')).toContain('{"limit": 10}');
    for (const path of ['/functions/echo/deploy', '/deploy', '/functions/echo/dead-letters']) expect(bodyHint(path)).not.toContain('replicas');
  });
});
