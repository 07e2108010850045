/**
 * Property tests of the consumer's decoders against whatever a publisher can put in a message:
 * Warren's own headers forged or malformed, the broker's headers faked, bodies that are not JSON or
 * not UTF-8. The decoders never throw, and what they return stays inside its contract.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBody } from '../../runtime/replica/decode';
import { attemptOf, countOf, H, MAX_COUNT, originalRoute, retryHeaders, deadLetterHeaders, loggableError } from '../../runtime/replica/headers';
import { admit, priorDeliveries } from '../../runtime/replica/suspects';
import { describeDeadLetter, originalRouteOf } from '../../runtime/deadletters/describe';

/** Any value amqplib can hand over as a header, and the hostile ones people actually send. */
const headerValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, -0, NaN, Infinity, -Infinity, 1e308, Number.MAX_SAFE_INTEGER, 2 ** 53 + 1, '3', '-3', '1e9', 'abc', '', true, null),
  fc.bigInt(),
  fc.uint8Array().map((bytes) => Buffer.from(bytes)),
  fc.dictionary(fc.string(), fc.anything()),
  fc.array(fc.anything()),
);

const warrenNames = [H.attempt, H.redeliveries, H.exchange, H.routingKey, 'x-delivery-count', 'x-death'] as const;

/** Headers with Warren's own names (and the broker's) set to anything, plus any other keys. */
const hostileHeaders: fc.Arbitrary<Record<string, unknown> | undefined> = fc.option(
  fc
    .tuple(
      fc.record(Object.fromEntries(warrenNames.map((name) => [name, headerValue])) as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: [] }),
      fc.dictionary(fc.string(), headerValue),
    )
    .map(([own, other]) => ({ ...other, ...own })),
  { nil: undefined },
);

// amqplib's own field-table encoder (not exported by name): what a copy must get through.
const codec = createRequire(import.meta.url)('../../node_modules/amqplib/lib/codec.js') as {
  encodeTable(buffer: Buffer, value: unknown, offset: number): number;
};

const delivered = { exchange: 'orders', routingKey: 'order.created' };

describe('header decoders never throw and stay in range', () => {
  it('countOf: an integer from 0 to MAX_COUNT for any value', () => {
    fc.assert(
      fc.property(headerValue, (value) => {
        const n = countOf(value);
        expect(Number.isInteger(n)).toBe(true);
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThanOrEqual(MAX_COUNT);
      }),
    );
  });

  it('attemptOf: an integer from 1 to MAX_COUNT for any headers', () => {
    fc.assert(
      fc.property(hostileHeaders, (headers) => {
        const attempt = attemptOf(headers);
        expect(Number.isInteger(attempt)).toBe(true);
        expect(attempt).toBeGreaterThanOrEqual(1);
        expect(attempt).toBeLessThanOrEqual(MAX_COUNT);
      }),
      { numRuns: 500 },
    );
  });

  it('attemptOf: text, negative, fractional-below-one and nested values count as absent', () => {
    for (const forged of ['3', 'abc', -5, 0, 0.5, NaN, { nested: { attempt: 9 } }, [4], Buffer.from('7'), true, null]) {
      expect(attemptOf({ [H.attempt]: forged })).toBe(1);
      expect(attemptOf({ 'x-delivery-count': forged })).toBe(1);
    }
    expect(attemptOf({ [H.attempt]: 1e308, 'x-delivery-count': 1e308, [H.redeliveries]: Infinity })).toBe(MAX_COUNT);
    expect(attemptOf({ [H.attempt]: 2n ** 80n })).toBe(MAX_COUNT);
    // what Warren itself writes still counts
    expect(attemptOf({ [H.attempt]: 3, 'x-delivery-count': 1 })).toBe(4);
  });

  it('originalRoute: the headers only when both are names the broker accepts, else the delivery', () => {
    fc.assert(
      fc.property(hostileHeaders, (headers) => {
        const route = originalRoute(headers, delivered);
        expect(typeof route.exchange).toBe('string');
        expect(typeof route.routingKey).toBe('string');
        expect(Buffer.byteLength(route.exchange)).toBeLessThanOrEqual(255);
        expect(Buffer.byteLength(route.routingKey)).toBeLessThanOrEqual(255);
      }),
      { numRuns: 500 },
    );
    expect(originalRoute({ [H.exchange]: 'x'.repeat(300), [H.routingKey]: 'k' }, delivered)).toEqual(delivered);
    expect(originalRoute({ [H.exchange]: { a: 1 }, [H.routingKey]: 'k' }, delivered)).toEqual(delivered);
    expect(originalRoute({ [H.exchange]: 'users', [H.routingKey]: 'user.x' }, delivered)).toEqual({ exchange: 'users', routingKey: 'user.x' });
  });

  it('redelivery counts: priorDeliveries is a bounded integer and admit always decides', () => {
    fc.assert(
      fc.property(
        hostileHeaders,
        fc.boolean(),
        fc.constantFrom('quorum' as const, 'classic' as const),
        fc.boolean(),
        fc.boolean(),
        (headers, redelivered, queueType, isolating, ordered) => {
          const prior = priorDeliveries({ headers, redelivered, queueType });
          expect(Number.isInteger(prior)).toBe(true);
          expect(prior).toBeGreaterThanOrEqual(0);
          expect(prior).toBeLessThanOrEqual(2 * MAX_COUNT + 1);
          const fn = {
            queue: 'q',
            redeliveryLimit: 3,
            ordered,
            prefetch: 10,
            retry: { attempts: 3, backoff: 'exponential' as const, delay: 1_000, maxDelay: 60_000 },
          };
          const admission = admit({ headers, redelivered, queueType }, fn, { joinable: () => !isolating });
          expect(['run', 'move', 'dead']).toContain(admission.action);
          if (admission.action === 'move') expect(['q.retry.1s', 'q.retry.2s']).toContain(admission.queue);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('retry and dead-letter headers are built from any headers without throwing', () => {
    fc.assert(
      fc.property(hostileHeaders, (headers) => {
        const route = originalRoute(headers, delivered);
        const retry = retryHeaders(headers, attemptOf(headers) + 1, route);
        expect(retry[H.attempt]).toBe(attemptOf(headers) + 1);
        expect(retry['x-death']).toBeUndefined();
        const dead = deadLetterHeaders(headers, {
          functionName: 'f',
          version: 'v1',
          reason: 'error',
          error: new Error('boom'),
          attempts: attemptOf(headers),
          route,
          now: new Date(0),
        });
        expect(dead[H.reason]).toBe('error');
        expect(dead['x-delivery-count']).toBeUndefined();
      }),
    );
  });
});

/** Content types a publisher may set, well-formed or not. */
const contentType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    undefined,
    '',
    'application/json',
    'application/json; charset=utf-8',
    'application/vnd.x+json',
    'text/plain',
    'application/octet-stream',
    'APPLICATION/JSON',
  ),
  fc.string(),
  fc.anything(),
);

const body: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.json().map((text) => Buffer.from(text)),
  fc.string().map((text) => Buffer.from(text)),
  fc.constantFrom(
    Buffer.alloc(0),
    Buffer.from([0xff, 0xfe, 0xfd]),
    Buffer.from('{"a":"\xff"}', 'latin1'),
    Buffer.from('\ufeff{"a":1}'),
    Buffer.from('['.repeat(100_000)),
  ),
);

describe('dead letters with forged headers can be listed', () => {
  it("describeDeadLetter and originalRouteOf never throw, whatever x-death and Warren's headers hold", () => {
    const deathEntry = fc.dictionary(fc.constantFrom('count', 'time', 'queue', 'reason', 'exchange', 'routing-keys'), headerValue);
    const forged = fc.record({ 'x-death': fc.oneof(headerValue, fc.array(fc.oneof(deathEntry, headerValue))), other: hostileHeaders }, { requiredKeys: [] });
    fc.assert(
      fc.property(forged, body, ({ other, ...death }, content) => {
        const headers = { ...other, ...death };
        const letter = describeDeadLetter({ content, properties: { headers } }, 'sink');
        expect(typeof letter).toBe('object');
        originalRouteOf(headers, 'sink');
      }),
      { numRuns: 500 },
    );
    const garbage = describeDeadLetter(
      { content: Buffer.alloc(0), properties: { headers: { 'x-death': [{ time: 1e20, count: 'x', 'routing-keys': 'k' }, 7] } } },
      'sink',
    );
    expect(garbage.deadLetteredAt).toBeNull();
  });
});

describe('copies of a message with huge headers can still be published', () => {
  it("a dead letter of up to 64 KiB of headers encodes within amqplib's 64 KiB table, dropping (and counting) what does not fit", () => {
    const sized = fc.tuple(fc.integer({ min: 0, max: 4_000 }), fc.integer({ min: 0, max: 60 })).filter(([n, size]) => n * (size + 12) <= 64 * 1024);
    fc.assert(
      fc.property(sized, ([n, size]) => {
        const headers = Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${i}`, 'v'.repeat(size)]));
        const error = new Error('e'.repeat(5_000));
        const dead = deadLetterHeaders(headers, { functionName: 'f', version: 'v1', reason: 'error', error, attempts: 1, route: delivered, now: new Date(0) });
        expect(() => codec.encodeTable(Buffer.alloc(65_536), dead, 0)).not.toThrow();
        const kept = Object.keys(dead).filter((k) => k.startsWith('h')).length;
        expect(kept + Number(dead[H.dropped] ?? 0)).toBe(n);
      }),
      { numRuns: 60 },
    );
  });
});

describe('body decoder never throws', () => {
  it('decodeBody: always an answer; a failure is an Error; JSON content is either parsed or refused', () => {
    fc.assert(
      fc.property(body, contentType, (content, type) => {
        const decoded = decodeBody(content, type);
        if (decoded.ok) return;
        expect(decoded.error).toBeInstanceOf(Error);
        expect(typeof type === 'string' && /json/i.test(type)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('application/json: valid JSON round-trips, anything else is refused with a reason', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = decodeBody(Buffer.from(JSON.stringify(value)), 'application/json');
        expect(decoded).toEqual({ ok: true, value: JSON.parse(JSON.stringify(value)) });
      }),
    );
    expect(decodeBody(Buffer.alloc(0), 'application/json')).toMatchObject({ ok: false, error: { message: expect.stringMatching(/empty/) } });
    expect(decodeBody(Buffer.from('{"a":"\xff"}', 'latin1'), 'application/json')).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/UTF-8/) },
    });
    expect(decodeBody(Buffer.from('{nope'), 'application/json')).toMatchObject({ ok: false, error: { message: expect.stringMatching(/not valid JSON/) } });
  });

  it('no content type: bytes that are not UTF-8 stay bytes instead of turning into U+FFFD', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const content = Buffer.from(bytes);
        const decoded = decodeBody(content, undefined);
        expect(decoded.ok).toBe(true);
        if (!decoded.ok) return;
        if (typeof decoded.value === 'string') expect(Buffer.from(decoded.value).equals(content)).toBe(true);
      }),
    );
    expect(decodeBody(Buffer.alloc(0), undefined)).toEqual({ ok: true, value: '' });
    const binary = Buffer.from([0xc3, 0x28]);
    expect(decodeBody(binary, undefined)).toEqual({ ok: true, value: binary });
  });
});

describe('an error with a huge message', () => {
  const huge = () => {
    const err = new TypeError('E'.repeat(200_000));
    (err as Error & { code: string }).code = 'E_HUGE';
    return err;
  };

  it('keeps the stack frames of its dead letter, its first lines cut instead', () => {
    const dead = deadLetterHeaders(undefined, {
      functionName: 'f',
      version: 'v1',
      reason: 'error',
      error: huge(),
      attempts: 1,
      route: { exchange: 'x', routingKey: 'k' },
      now: new Date(0),
    });
    const stack = dead[H.stack] as string;
    expect(stack.length).toBeLessThanOrEqual(4_000);
    expect(stack).toMatch(/^TypeError: E+…\n\s+at /);
    expect(stack).toContain('replica-hostile.test.ts');
    expect((dead[H.error] as string).length).toBe(1_000);
  });

  it('is written to a log line cut as its dead letter is, with its class and fields', () => {
    const err = huge();
    const logged = loggableError(err);
    expect(logged).toBeInstanceOf(TypeError);
    expect(logged.message.length).toBe(1_000);
    expect(logged.stack!.length).toBeLessThanOrEqual(4_000);
    expect(logged.stack).toMatch(/\n\s+at /);
    expect((logged as Error & { code: string }).code).toBe('E_HUGE');
    // the handler's own error is left as it was
    expect(err.message.length).toBe(200_000);
    const small = new Error('short');
    expect(loggableError(small)).toBe(small);
  });
});
