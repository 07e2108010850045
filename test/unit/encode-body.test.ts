/** How ctx.publish and a function's output encode a body, and the error for what JSON cannot hold. */
import { describe, expect, it } from 'vitest';
import { encodeBody } from '../../runtime/replica/encode-body';

describe('encodeBody', () => {
  it('sends bytes as they are, a string as text, anything else as JSON (undefined as null)', () => {
    const bytes = Buffer.from([0xff, 0x00]);
    expect(encodeBody(bytes)).toEqual({ body: bytes });
    expect(encodeBody(new TextEncoder().encode('héllo'))).toEqual({ body: Buffer.from('héllo') });
    expect(encodeBody(new Uint8Array([1, 2, 3, 4]).subarray(1, 3))).toEqual({ body: Buffer.from([2, 3]) });
    expect(encodeBody('Test!')).toEqual({ body: Buffer.from('Test!'), contentType: 'text/plain' });
    expect(encodeBody({ a: [1, 'b'] })).toEqual({ body: Buffer.from('{"a":[1,"b"]}'), contentType: 'application/json' });
    expect(encodeBody(undefined).body.toString()).toBe('null');
  });

  it.each([
    ['a BigInt', { n: 1n }, 'Do not know how to serialize a BigInt'],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
      'Converting circular structure to JSON',
    ],
    ['a function', () => 1, 'a function has no JSON form'],
    ['a symbol', Symbol('s'), 'a symbol has no JSON form'],
  ])('refuses %s, saying why and what to send instead', (_what, value, why) => {
    expect(() => encodeBody(value)).toThrow(`the message body cannot be sent as JSON (${why}): publish plain JSON values, a string or a Buffer`);
  });
});
