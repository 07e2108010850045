/** A replica's pure decisions (runtime/replica/): decoding, what happens after an outcome, the headers it writes. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody } from '../../runtime/replica/decode';
import { decideSettlement } from '../../runtime/replica/outcome';
import { attemptOf, attemptsBefore, deadLetterHeaders, originalRoute, replayHeaders, retryHeaders, visibleHeaders } from '../../runtime/replica/headers';
import { priorDeliveries } from '../../runtime/replica/suspects';
import type { FunctionConfig } from '../../runtime/config/types';
import { readMessage } from '../../runtime/replica/read-message';
import { compileMessageSchema } from '../../runtime/replica/schema';
import { createMessageValidator } from '../../runtime/config/message-schema';
import { deliveryLimit } from '../../runtime/replica/process';
import { itemOutcomes } from '../../runtime/replica/batch/item-outcomes';
import { functionConfig } from '../testkit/function-config';

const fn = (over: Partial<FunctionConfig> = {}): FunctionConfig =>
  functionConfig('resize', { retry: { attempts: 4, backoff: 'exponential', delay: 1_000, maxDelay: 3_000 }, ...over }, '/p');
const boom = new Error('boom');
/** What a dead letter of `error` is built from. */
const factsOf = (error: Error) => ({
  functionName: 'resize',
  version: 'v',
  reason: 'error' as const,
  error,
  attempts: 1,
  route: { exchange: '', routingKey: 'resize' },
  now: new Date(0),
});

describe('decodeBody (SPEC §3)', () => {
  it('parses application/json and fails on a body that is not JSON', () => {
    expect(decodeBody(Buffer.from('{"a":1}'), 'application/json')).toEqual({ ok: true, value: { a: 1 } });
    expect(decodeBody(Buffer.from('{"a":1}'), 'application/vnd.api+json; charset=utf-8')).toEqual({ ok: true, value: { a: 1 } });
    expect(decodeBody(Buffer.from('{nope'), 'application/json').ok).toBe(false);
  });
  it('without a content type: JSON when it parses, else the UTF-8 string', () => {
    expect(decodeBody(Buffer.from('Test!'), undefined)).toEqual({ ok: true, value: 'Test!' });
    expect(decodeBody(Buffer.from('{"userId":"john_doe"}'), undefined)).toEqual({ ok: true, value: { userId: 'john_doe' } });
  });
  it('text as a string, anything else as the Buffer', () => {
    expect(decodeBody(Buffer.from('{"a":1}'), 'text/plain')).toEqual({ ok: true, value: '{"a":1}' });
    const raw = Buffer.from([1, 2, 3]);
    expect(decodeBody(raw, 'application/octet-stream')).toEqual({ ok: true, value: raw });
  });
});

describe('decideSettlement', () => {
  it('acks a success, with the output route when the handler returned something', () => {
    expect(decideSettlement(fn(), 1, { kind: 'ok', value: undefined })).toEqual({ action: 'ack' });
    const withOutput = fn({ output: { exchange: 'users', routingKey: 'user.deleted' } });
    expect(decideSettlement(withOutput, 1, { kind: 'ok', value: { id: 1 } })).toEqual({
      action: 'ack',
      output: { exchange: 'users', routingKey: 'user.deleted', value: { id: 1 } },
    });
    expect(decideSettlement(withOutput, 1, { kind: 'ok', value: undefined })).toEqual({ action: 'ack' });
  });

  it('retries a failure through the TTL queue of its delay, growing and capped, until the last attempt', () => {
    const f = fn();
    const decisions = [1, 2, 3].map((attempt) => decideSettlement(f, attempt, { kind: 'error', error: boom, timedOut: false }));
    expect(decisions).toEqual([
      { action: 'retry', queue: 'resize.retry.1s', delayMs: 1_000, nextAttempt: 2, error: boom },
      { action: 'retry', queue: 'resize.retry.2s', delayMs: 2_000, nextAttempt: 3, error: boom },
      { action: 'retry', queue: 'resize.retry.3s', delayMs: 3_000, nextAttempt: 4, error: boom },
    ]);
    expect(decideSettlement(f, 4, { kind: 'error', error: boom, timedOut: false })).toEqual({
      action: 'dead',
      queue: 'resize.dead',
      reason: 'error',
      error: boom,
    });
    expect(decideSettlement(f, 4, { kind: 'error', error: boom, timedOut: true })).toMatchObject({ action: 'dead', reason: 'timeout' });
  });

  it('dead-letters at once what no retry can fix', () => {
    for (const kind of ['reject', 'schema', 'invalid-json', 'too-large', 'delivery-limit'] as const) {
      expect(decideSettlement(fn(), 1, { kind, error: boom })).toEqual({ action: 'dead', queue: 'resize.dead', reason: kind, error: boom });
    }
  });

  it('requeues in place for an ordered function, and drops only when deadLetter is false', () => {
    expect(decideSettlement(fn({ ordered: true }), 1, { kind: 'error', error: boom, timedOut: false })).toEqual({
      action: 'requeue',
      delayMs: 1_000,
      error: boom,
    });
    expect(decideSettlement(fn({ deadLetter: false }), 4, { kind: 'error', error: boom, timedOut: false })).toEqual({
      action: 'drop',
      reason: 'error',
      error: boom,
    });
  });
});

describe('headers', () => {
  it("shows a handler the producer's headers and the dead-letter facts, not the attempt, route or broker records a retry copy carries", () => {
    const retried = retryHeaders({ trace: 't1', 'x-delivery-count': 1 }, 2, { exchange: 'orders', routingKey: 'order.created' });
    const seen = visibleHeaders({ ...retried, 'x-death': [{ count: 1 }], 'x-first-death-queue': 'q', 'x-warren-error': 'boom' });
    expect(seen).toEqual({ trace: 't1', 'x-warren-error': 'boom' });
    expect(attemptOf(seen)).toBe(1);
    const plain = { trace: 't1' };
    expect(visibleHeaders(plain)).toBe(plain);
    expect(visibleHeaders(undefined)).toEqual({});
  });

  it('counts attempts from the retry header plus the deliveries the broker counted', () => {
    expect(attemptOf(undefined)).toBe(1);
    expect(attemptOf({ 'x-warren-attempt': 3 })).toBe(3);
    expect(attemptOf({ 'x-warren-attempt': 2, 'x-delivery-count': 1 })).toBe(3);
    expect(attemptOf({ 'x-warren-redeliveries': 2 })).toBe(3);
  });

  it('counts the runs before a delivery dead-lettered past the limit without running', () => {
    // Ran once, died twice aside (redeliveries 2), then died once more: handed back a third time.
    const quorum = (headers: Record<string, unknown>) => attemptsBefore(headers, priorDeliveries({ headers, redelivered: true, queueType: 'quorum' }));
    expect(quorum({ 'x-warren-redeliveries': 2, 'x-delivery-count': 1 })).toBe(3);
    expect(quorum({ 'x-warren-attempt': 2, 'x-delivery-count': 3 })).toBe(4);
    // A classic queue counts the delivery at hand by its redelivered flag, as its error's "delivered N times" does (it said one run fewer).
    const classic = { 'x-warren-redeliveries': 2 };
    expect(attemptsBefore(classic, priorDeliveries({ headers: classic, redelivered: true, queueType: 'classic' }))).toBe(3);
    // A delivery forgiven (a death it had no part in) is no run.
    const forgiven = { 'x-warren-redeliveries': 3, 'x-delivery-count': 1 };
    expect(attemptsBefore(forgiven, priorDeliveries({ headers: forgiven, redelivered: true, queueType: 'quorum', forgiven: 1 }))).toBe(3);
  });

  it('keeps the first route across retries and strips per-delivery headers', () => {
    const first = { exchange: 'my_exchange', routingKey: 'test' };
    const headers = retryHeaders({ app: 'x', 'x-death': [{}], 'x-delivery-count': 2 }, 2, first);
    expect(headers).toEqual({ app: 'x', 'x-warren-attempt': 2, 'x-warren-original-exchange': 'my_exchange', 'x-warren-original-routing-key': 'test' });
    // back from the retry queue through the default exchange
    expect(originalRoute(headers, { exchange: '', routingKey: 'resize' })).toEqual(first);
  });

  it('gives a dead letter the facts a person needs, and replay removes them again', () => {
    const error = new Error('x'.repeat(5_000));
    const headers = deadLetterHeaders(
      { app: 'x', 'x-warren-attempt': 3 },
      {
        functionName: 'resize',
        version: 'abc123def456',
        reason: 'error',
        error,
        attempts: 3,
        route: { exchange: 'my_exchange', routingKey: 'test' },
        now: new Date('2026-01-01T00:00:00Z'),
      },
    );
    expect(headers).toMatchObject({
      app: 'x',
      'x-warren-function': 'resize',
      'x-warren-attempts': 3,
      'x-warren-version': 'abc123def456',
      'x-warren-original-exchange': 'my_exchange',
      'x-warren-original-routing-key': 'test',
      'x-warren-dead-lettered-at': '2026-01-01T00:00:00.000Z',
      'x-warren-reason': 'error',
    });
    expect(String(headers['x-warren-error']).length).toBeLessThanOrEqual(1_000);
    expect(headers['x-warren-attempt']).toBeUndefined();
    expect(replayHeaders(headers)).toEqual({ app: 'x' });
  });

  it('reads an Error whose message or stack a library set to something other than a string', () => {
    const odd = Object.assign(new Error('x'), { message: { code: 'E_QUOTA' }, stack: 42 }) as unknown as Error;
    const headers = deadLetterHeaders({}, factsOf(odd));
    expect(headers['x-warren-error']).toBe('{"code":"E_QUOTA"}');
    expect(headers['x-warren-stack']).toBe('42');
    const big = Object.assign(new Error('x'), { message: 7n }) as unknown as Error;
    expect(deadLetterHeaders({}, factsOf(big))['x-warren-error']).toBe('7');
  });

  it('refuses binary bytes against a schema for being binary, not for a property the bytes do not have', () => {
    const validator = createMessageValidator({ type: 'object', required: ['n'] });
    const validate = (value: unknown) => (validator(value) ? null : (validator.errors?.[0]?.message ?? 'invalid'));
    const read = readMessage(Buffer.from([0xff, 0xfe, 0xfd, 0xff]), undefined, fn(), validate);
    expect(read.ok).toBe(false);
    const error = read.ok ? null : 'error' in read.outcome ? read.outcome.error : null;
    expect(error?.message).toBe('schema validation failed: the body is 4 bytes that are not UTF-8 text, so not the JSON the schema describes');
  });

  it('refuses a JSON text sent with a content type that is not JSON against a schema for its content type, not for its bytes', () => {
    const read = readMessage(Buffer.from('{"n":1}'), 'application/x-weird;;;charset=??', fn(), () => 'message must have property n');
    const error = read.ok ? null : 'error' in read.outcome ? read.outcome.error : null;
    expect(error?.message).toBe(
      'schema validation failed: its content type "application/x-weird;;;charset=??" is not JSON, so the body reaches the function as 7 bytes, not the JSON the schema describes: publish it as application/json, or with no content type',
    );
  });

  it('says how to get a body over maxBodySize through: raise it, then replay the dead letter', () => {
    const read = readMessage(Buffer.from('x'.repeat(101)), undefined, fn({ maxBodyBytes: 100 }), null);
    const error = read.ok ? null : 'error' in read.outcome ? read.outcome.error : null;
    expect(error?.message).toBe(
      'body of 101 bytes exceeds maxBodySize 100: raise functions.resize.maxBodySize in queues.yaml (at most 128MiB), then `warren dlq replay resize`',
    );
  });

  it('says of a JSON body that does not parse because it is compressed that Warren does not undo its content encoding', () => {
    const gzipped = gzipSync(Buffer.from('{"n":1}'));
    const read = readMessage(gzipped, 'application/json', fn(), null, 'gzip');
    expect(read.ok ? null : read.outcome.kind).toBe('invalid-json');
    const error = read.ok ? null : 'error' in read.outcome ? read.outcome.error : null;
    expect(error?.message).toMatch(
      /^the body is not valid (UTF-8, so it cannot be JSON|JSON: .*) \(its content encoding is gzip, which Warren does not undo: publish JSON unencoded/,
    );
    // An encoding that changes nothing adds nothing.
    const plain = readMessage(Buffer.from('{"n":'), 'application/json', fn(), null, 'utf-8');
    expect(plain.ok ? null : 'error' in plain.outcome ? plain.outcome.error.message : null).not.toContain('content encoding');
  });

  it('refuses against a recursive schema a message nested deeper than it can follow, as a schema failure: never given back to the queue unsettled', async () => {
    const validate = await compileMessageSchema({ $ref: '#/definitions/n', definitions: { n: { type: 'array', items: { $ref: '#/definitions/n' } } } });
    const deep = Buffer.from('['.repeat(200_000) + ']'.repeat(200_000));
    const read = readMessage(deep, 'application/json', fn({ maxBodyBytes: 1_000_000 }), validate);
    expect(read.ok ? null : read.outcome.kind).toBe('schema');
    const error = read.ok ? null : 'error' in read.outcome ? read.outcome.error : null;
    expect(error?.message).toBe(
      'schema validation failed: the schema could not check the message: Maximum call stack size exceeded (the message nests deeper than the schema can follow)',
    );
    expect(readMessage(Buffer.from('[[[]]]'), 'application/json', fn(), validate).ok).toBe(true);
  });

  it("a dead letter Warren made itself (schema, invalid JSON, too large, delivery limit, a batch item named failed) says so in its stack, without Warren's own frames", () => {
    const schema = readMessage(Buffer.from('{"n":"x"}'), 'application/json', fn({ maxBodyBytes: 100 }), () => 'message/n must be integer');
    const invalid = readMessage(Buffer.from('{nope'), 'application/json', fn(), null);
    const large = readMessage(Buffer.from('x'.repeat(101)), undefined, fn({ maxBodyBytes: 100 }), null);
    const outcomes = [...[schema, invalid, large].map((read) => (read.ok ? null : read.outcome)), deliveryLimit(6, 5, 'out of memory')];
    outcomes.push(...itemOutcomes(2, { kind: 'ok', value: { failed: [0], rejected: [1] } }));
    const errors = outcomes.map((outcome) => (outcome && 'error' in outcome ? outcome.error : null));
    for (const error of errors) {
      expect(error).toBeInstanceOf(Error);
      const stack = String(deadLetterHeaders({}, { ...factsOf(error!), reason: 'schema' })['x-warren-stack']);
      expect(stack.startsWith(`Error: ${error!.message}\n    (`)).toBe(true);
      expect(stack).toMatch(/: no handler code to point at\)$/);
      expect(stack).not.toMatch(/\n\s+at /);
    }
    // A handler's own throw keeps its stack.
    expect(String(deadLetterHeaders({}, factsOf(boom))['x-warren-stack'])).toMatch(/\n\s+at /);
  });
});
