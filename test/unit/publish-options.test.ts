/**
 * runtime/connection/publish-options.ts: the properties a copied or new message is published with.
 */
import { describe, expect, it } from 'vitest';
import { publishOptions, withHeaders } from '../../runtime/connection/publish-options';
import type { MessageProperties } from '../../runtime/replica/delivery';

const delivered: MessageProperties = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: { 'x-tenant': 'a' },
  messageId: 'm-1',
  correlationId: 'c-1',
  replyTo: 'answers',
  timestamp: 1_764_201_600,
  type: 'order.created',
  appId: 'shop',
  deliveryMode: 2,
  priority: 3,
  expiration: '60000',
  userId: 'guest',
};

/** The keys with a value: what amqplib encodes. */
const set = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

describe('publishOptions', () => {
  it('copies every property but the user id, with the publish flags over them', () => {
    expect(set(publishOptions(delivered, { mandatory: true, persistent: true }))).toEqual({
      mandatory: true,
      persistent: true,
      deliveryMode: 2,
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: { 'x-tenant': 'a' },
      priority: 3,
      correlationId: 'c-1',
      replyTo: 'answers',
      expiration: '60000',
      messageId: 'm-1',
      timestamp: 1_764_201_600,
      type: 'order.created',
      appId: 'shop',
    });
  });

  it('sets headers, id, time and type over the copy, and drops its expiration when told', () => {
    const o = publishOptions(delivered, { headers: { 'x-warren-attempt': 2 }, messageId: 'm-2', timestamp: 5, contentType: 'text/plain', expiration: null });
    expect(o).toMatchObject({ headers: { 'x-warren-attempt': 2 }, messageId: 'm-2', timestamp: 5, contentType: 'text/plain', mandatory: false });
    expect(o.expiration).toBeUndefined();
  });

  it('makes a new message from nothing', () => {
    expect(set(publishOptions(undefined, { persistent: true, mandatory: true, messageId: 'p-0', headers: {} }))).toEqual({
      persistent: true,
      mandatory: true,
      messageId: 'p-0',
      headers: {},
    });
  });
});

describe('withHeaders', () => {
  it('keeps every other property', () => {
    const copy = withHeaders(delivered, { 'x-warren-attempt': 3 });
    expect(set(copy)).toEqual({ ...delivered, headers: { 'x-warren-attempt': 3 } });
  });

  it("drops the producer's expiration for a retry or a dead letter, and keeps the rest", () => {
    const copy = withHeaders(delivered, { 'x-warren-reason': 'error' }, false);
    const { expiration: _dropped, ...rest } = delivered;
    expect(set(copy)).toEqual({ ...rest, headers: { 'x-warren-reason': 'error' } });
  });
});
