/** Reading a dead letter: Warren's own headers, and the broker's x-death for quorum delivery-limit dead letters. */
import { describe, expect, it } from 'vitest';
import { describeDeadLetter, originalRouteOf, replayProperties } from '../../runtime/deadletters/describe';

const warrenHeaders = {
  traceparent: 'abc',
  'x-warren-function': 'orders',
  'x-warren-error': 'boom',
  'x-warren-stack': 'Error: boom\n    at handler',
  'x-warren-attempts': 3,
  'x-warren-version': 'v123',
  'x-warren-original-exchange': 'shop',
  'x-warren-original-routing-key': 'order.created',
  'x-warren-dead-lettered-at': '2026-01-02T03:04:05.000Z',
  'x-warren-reason': 'error',
};

describe('describeDeadLetter', () => {
  it("reads Warren's headers and previews the first 200 characters of the body", () => {
    const body = Buffer.from('x'.repeat(250));
    const letter = describeDeadLetter({ content: body, properties: { messageId: 'm1', headers: warrenHeaders } }, 'orders');
    expect(letter).toMatchObject({
      messageId: 'm1',
      error: 'boom',
      reason: 'error',
      attempts: 3,
      function: 'orders',
      version: 'v123',
      deadLetteredAt: '2026-01-02T03:04:05.000Z',
      originalExchange: 'shop',
      originalRoutingKey: 'order.created',
      bodyBytes: 250,
    });
    expect(letter.bodyPreview).toBe('x'.repeat(200));
  });

  it("shows the message's headers without the dead-letter queue's count of reads, which grew each time someone looked", () => {
    const read = (times: number) =>
      describeDeadLetter({ content: Buffer.from('{}'), properties: { messageId: 'm1', headers: { ...warrenHeaders, 'x-delivery-count': times } } }, 'orders');
    expect(read(1).headers).toEqual(warrenHeaders);
    expect(read(7).headers).toEqual(read(1).headers);
    expect(read(7).attempts).toBe(3);
  });

  it('shows byte-array header values as text when they are UTF-8, else as base64 with their length, and 64-bit integers as digits', () => {
    const headers = { ...warrenHeaders, tag: Buffer.from('blue'), raw: Buffer.from([255, 0]), big: 2n ** 63n - 1n, list: [Buffer.from('a'), 1] };
    const letter = describeDeadLetter({ content: Buffer.from('{}'), properties: { messageId: 'm1', headers } }, 'orders');
    expect(letter.headers).toMatchObject({ tag: 'blue', raw: { bytes: 2, base64: '/wA=' }, big: '9223372036854775807', list: ['a', 1] });
    expect(JSON.parse(JSON.stringify(letter.headers))).toEqual(letter.headers);
  });

  it('understands a message the broker dead-lettered at the quorum delivery limit', () => {
    const headers = {
      'x-first-death-reason': 'delivery_limit',
      'x-first-death-queue': 'orders',
      'x-first-death-exchange': 'shop',
      'x-death': [
        {
          count: 1,
          reason: 'delivery_limit',
          queue: 'orders',
          time: { '!': 'timestamp', value: 1_767_323_045 },
          exchange: 'shop',
          'routing-keys': ['order.created'],
        },
      ],
    };
    const letter = describeDeadLetter({ content: Buffer.from('{}'), properties: { headers } }, 'orders');
    expect(letter.reason).toBe('delivery-limit');
    expect(letter.error).toMatch(/delivery limit of orders: every replica that took it died/);
    expect(letter.attempts).toBeNull();
    expect(letter.deadLetteredAt).toBe(new Date(1_767_323_045_000).toISOString());
    expect([letter.originalExchange, letter.originalRoutingKey]).toEqual(['shop', 'order.created']);
    expect(letter.lastDeath).toBeNull();
  });

  it('shows the last death a broker-made dead letter carried from waiting aside', () => {
    const headers = {
      'x-warren-redeliveries': 2,
      'x-warren-last-death': 'out of memory (limit 64 MiB)',
      'x-death': [{ count: 1, reason: 'delivery_limit', queue: 'orders', exchange: '', 'routing-keys': ['orders'] }],
    };
    const letter = describeDeadLetter({ content: Buffer.from('{}'), properties: { headers } }, 'orders');
    expect(letter.lastDeath).toBe('out of memory (limit 64 MiB)');
    expect(letter.error).toMatch(/\(the last died of: out of memory \(limit 64 MiB\)\)$/);
  });
});

describe('originalRouteOf', () => {
  it("prefers Warren's headers over x-death (a retried message came back through the default exchange)", () => {
    const headers = { ...warrenHeaders, 'x-death': [{ queue: 'orders', exchange: '', 'routing-keys': ['orders'] }] };
    expect(originalRouteOf(headers, 'orders')).toEqual({ exchange: 'shop', routingKey: 'order.created' });
  });
  it('uses the x-death entry of the source queue, and knows when nothing tells', () => {
    const headers = {
      'x-death': [
        { queue: 'orders', exchange: '', 'routing-keys': ['orders'] },
        { queue: 'orders.retry.1s', exchange: '', 'routing-keys': ['orders.retry.1s'] },
      ],
    };
    expect(originalRouteOf(headers, 'orders')).toEqual({ exchange: '', routingKey: 'orders' });
    expect(originalRouteOf({}, 'orders')).toBeUndefined();
    expect(originalRouteOf(undefined)).toBeUndefined();
  });
});

describe('replayProperties', () => {
  it("keeps the message's own properties and headers, drops Warren's bookkeeping, expiration and userId", () => {
    const props = replayProperties({
      contentType: 'application/json',
      messageId: 'm1',
      correlationId: 'c1',
      deliveryMode: 2,
      expiration: '1000',
      userId: 'guest',
      headers: { ...warrenHeaders, 'x-delivery-count': 2, 'x-death': [] },
    });
    expect(props).toEqual({ contentType: 'application/json', messageId: 'm1', correlationId: 'c1', deliveryMode: 2, headers: { traceparent: 'abc' } });
  });
});
