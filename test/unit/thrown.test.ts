/** What a handler throws, as the Error its dead letter records: a message a person can read, never Warren's frames. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isReject } from '../../runtime';
import { deadLetterHeaders } from '../../runtime/replica/headers';
import { toError } from '../../runtime/replica/run-handler';

describe('toError', () => {
  it('keeps an Error as it is', () => {
    const err = new TypeError('bad');
    expect(toError(err, 'the handler threw')).toBe(err);
  });

  it.each([
    ['a string', 'oops', 'oops', 'a string'],
    ['null', null, 'the handler threw: null', 'null'],
    ['undefined', undefined, 'the handler threw: undefined', 'undefined'],
    ['an empty string', '', "the handler threw: ''", 'a string'],
    ['a number', 42, 'the handler threw: 42', 'a number'],
    ['an object without a message', { code: 7 }, 'the handler threw: { code: 7 }', 'an object'],
    ['an object with a message', { code: 5, message: 'quota' }, 'quota', 'an object'],
    ['an array', [1, 2], 'the handler threw: [ 1, 2 ]', 'an array'],
  ])('turns %s into a message, and a stack that says there is none', (_what, thrown, message, what) => {
    const error = toError(thrown, 'the handler threw');
    expect(error.message).toBe(message);
    expect(error.stack).toBe(`Error: ${message}\n    (${what} was thrown, not an Error, so there is no stack: throw new Error(…) to get one)`);
    expect(error.stack).not.toMatch(/\n\s+at /);
  });

  it('names an Error thrown with no message by its class, keeping its fields and its stack', () => {
    class DbDown extends Error {
      code = 'ECONNRESET';
      constructor() {
        super();
        this.name = 'DbDown';
      }
    }
    const thrown = new DbDown();
    const error = toError(thrown, 'the handler threw');
    expect(error).toMatchObject({ message: 'DbDown (thrown with no message)', name: 'DbDown', code: 'ECONNRESET', stack: thrown.stack });
    expect(toError(new Error(), 'the handler threw').message).toBe('Error (thrown with no message)');
    const headers = deadLetterHeaders(
      {},
      {
        functionName: 'f',
        version: 'v',
        reason: 'error',
        error,
        attempts: 3,
        route: { exchange: '', routingKey: 'f' },
        now: new Date(0),
      },
    );
    expect(headers['x-warren-error']).toBe('DbDown (thrown with no message)');
  });

  it('keeps the fields of a thrown object', () => {
    expect(toError({ code: 5, message: 'quota' }, 'x')).toMatchObject({ code: 5, message: 'quota' });
  });

  it('never throws, whatever is thrown, even a value that cannot be read', () => {
    const hostile = new Proxy(
      {},
      {
        has: () => true,
        get: () => {
          throw new Error('no');
        },
      },
    );
    const unreadable = toError(hostile, 'the handler threw');
    expect(unreadable.message).toBe('the handler threw: a value that could not be read');
    expect(unreadable.stack).not.toMatch(/\n\s+at /);
    fc.assert(
      fc.property(fc.anything(), (thrown) => {
        const error = toError(thrown, 'the handler threw');
        expect(error).toBeInstanceOf(Error);
        expect(typeof error.message).toBe('string');
        expect(error.message.length).toBeGreaterThan(0);
      }),
    );
  });

  it('copies an Error whose message, stack or name throws when read, and a proxy whose every trap throws is no Reject', () => {
    const trap = () => {
      throw new Error('trap');
    };
    const getter = (key: string) => {
      const e = new Error(`${key} getter`);
      Object.defineProperty(e, key, { get: trap });
      return e;
    };
    const symbolMessage = Object.assign(new Error('x'), { message: Symbol('s') as unknown as string });
    const unreadableField = Object.defineProperty(new Error('field'), 'code', { get: trap, enumerable: true });
    const proxy = new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap });
    expect(isReject(proxy)).toBe(false);
    for (const thrown of [getter('message'), getter('stack'), getter('name'), symbolMessage, unreadableField, proxy]) {
      const error = toError(thrown, 'the handler threw');
      expect(error === thrown).toBe(false);
      // what Warren reads of it, for its log and its dead letter, reads
      const headers = deadLetterHeaders(
        {},
        {
          functionName: 'f',
          version: 'v',
          reason: 'error',
          error,
          attempts: 1,
          route: { exchange: '', routingKey: 'f' },
          now: new Date(0),
        },
      );
      expect(String(headers['x-warren-error']).length).toBeGreaterThan(0);
      expect(JSON.stringify({ ...error, message: error.message, stack: error.stack, name: error.name })).toBeTruthy();
    }
    expect(toError(getter('stack'), 'x').message).toBe('stack getter');
    expect(toError(getter('message'), 'x').message).toBe('x: an Error whose message could not be read');
    expect(toError(unreadableField, 'x').message).toBe('field');
  });
});
