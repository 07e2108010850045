/**
 * Warren's frame reader (runtime/connection/frame-reader.ts) against amqplib's own: for any stream of
 * frames, well-formed or not, cut into reads at any places, both give amqplib the same frames and
 * fail with the same error at the same frame.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameReader, type FrameSource } from '../../runtime/connection/frame-reader';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('amqplib')), 'lib');
/* eslint-disable @typescript-eslint/no-explicit-any -- amqplib's internals have no types */
const defs = require(join(lib, 'defs.js')) as any;
const frames = require(join(lib, 'frame.js')) as any;
const { Connection } = require(join(lib, 'connection.js')) as any;
/* eslint-enable @typescript-eslint/no-explicit-any */
const amqplibRecvFrame = Connection.prototype.recvFrame as () => unknown;

const MAX_FRAME = 4096;

/** A connection-like object reading from `reads`, one Buffer per read, with amqplib's reader or Warren's. */
function source(warren: boolean): { source: FrameSource; push(b: Buffer): void } {
  const queue: Buffer[] = [];
  const s: FrameSource = {
    rest: Buffer.alloc(0),
    maxFrameSize: MAX_FRAME,
    recvSinceLastCheck: false,
    stream: { read: () => queue.shift() ?? null },
    recvFrame: amqplibRecvFrame,
  };
  if (warren) {
    const reader = new FrameReader(s, amqplibRecvFrame);
    s.recvFrame = () => reader.next();
  }
  return { source: s, push: (b) => queue.push(b) };
}

/** Everything each reader returns for `input` cut at `cuts`, as amqplib's accept loop calls it. */
function readAll(warren: boolean, input: Buffer, cuts: number[]): unknown[] {
  const { source: s, push } = source(warren);
  const out: unknown[] = [];
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, input.length]) {
    if (to > from) push(input.subarray(from, to));
    from = Math.max(from, to);
    try {
      for (let f = s.recvFrame(); f; f = s.recvFrame()) out.push(f === frames.HEARTBEAT ? 'the heartbeat object' : f);
    } catch (err) {
      out.push(`error: ${(err as Error).message}`);
      return out; // amqplib closes the connection on a frame error
    }
  }
  out.push({ recvSinceLastCheck: s.recvSinceLastCheck });
  return out;
}

const shortstr = fc.oneof(fc.constantFrom('', 'amq.ctag-abcdefghijklmnop', 'orders', 'orders.created', 'é✓'), fc.string({ maxLength: 40 }));
const channel = fc.integer({ min: 0, max: 3 });
const frame = fc.oneof(
  // a delivery: method, content header, body
  fc
    .record({
      channel,
      consumerTag: shortstr,
      deliveryTag: fc.integer({ min: 1, max: 2 ** 40 }),
      redelivered: fc.boolean(),
      exchange: shortstr,
      routingKey: shortstr,
      body: fc.uint8Array({ maxLength: 64 }),
      headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer())),
    })
    .map(({ channel: ch, body, headers, ...fields }) =>
      Buffer.concat([
        defs.encodeMethod(defs.BasicDeliver, ch, fields),
        defs.encodeProperties(defs.BasicProperties, ch, body.length, { contentType: 'application/json', deliveryMode: 2, headers }),
        frames.makeBodyFrame(ch, Buffer.from(body)),
      ]),
    ),
  // a content header with any of basic's properties
  fc
    .record(
      {
        channel,
        size: fc.integer({ min: 0, max: 2 ** 40 }),
        contentType: fc.constantFrom('application/json', 'text/plain', ''),
        contentEncoding: shortstr,
        headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean())),
        deliveryMode: fc.integer({ min: 0, max: 255 }),
        priority: fc.integer({ min: 0, max: 255 }),
        correlationId: shortstr,
        replyTo: shortstr,
        expiration: fc.constantFrom('0', '60000'),
        messageId: shortstr,
        timestamp: fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.constant(2 ** 53 + 2)),
        type: shortstr,
        userId: shortstr,
        appId: shortstr,
        clusterId: shortstr,
      },
      { requiredKeys: ['channel', 'size'] },
    )
    .map(({ channel: ch, size, ...properties }) => defs.encodeProperties(defs.BasicProperties, ch, size, properties)),
  // basic's content header with any bytes for its properties (cut short, overrunning, a bad table)
  fc.record({ channel, flags: fc.integer({ min: 0, max: 0xffff }), rest: fc.uint8Array({ maxLength: 40 }) }).map(({ channel: ch, flags, rest }) => {
    const head = Buffer.alloc(14);
    head.writeUInt16BE(60, 0);
    head.writeUInt32BE(rest.length, 8);
    head.writeUInt16BE(flags, 12);
    return rawFrame(2, ch, Buffer.concat([head, Buffer.from(rest)]));
  }),
  // other methods
  fc
    .record({ channel, deliveryTag: fc.integer({ min: 1, max: 2 ** 32 }), multiple: fc.boolean() })
    .map(({ channel: ch, ...f }) => defs.encodeMethod(defs.BasicAck, ch, f)),
  channel.map((ch) => defs.encodeMethod(defs.BasicQosOk, ch, {})),
  // a content header of any 64-bit body size, no properties
  fc.record({ channel, size: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }).map(({ channel: ch, size }) => {
    const payload = Buffer.alloc(14);
    payload.writeUInt16BE(60, 0);
    payload.writeBigInt64BE(size, 4);
    return rawFrame(2, ch, payload);
  }),
  fc.constant(frames.HEARTBEAT_BUF as Buffer),
  // malformed: a delivery whose arguments overrun the frame, a bad frame end, an unknown type, too big a frame
  fc.uint8Array({ minLength: 0, maxLength: 12 }).map((args) => rawFrame(1, 1, Buffer.concat([u32(3932220), Buffer.from(args)]))),
  fc.record({ consumerTag: shortstr, exchange: shortstr, routingKey: shortstr, cut: fc.integer({ min: 1, max: 30 }) }).map(({ cut, ...names }) => {
    const whole = defs.encodeMethod(defs.BasicDeliver, 1, { ...names, deliveryTag: 1, redelivered: false }) as Buffer;
    const args = whole.subarray(7, whole.length - 1);
    return rawFrame(1, 1, args.subarray(0, Math.max(4, args.length - cut)));
  }),
  fc.uint8Array({ maxLength: 3 }).map((args) => rawFrame(1, 1, Buffer.from(args))),
  fc.uint8Array({ maxLength: 11 }).map((args) => rawFrame(2, 1, Buffer.from(args))),
  channel.map((ch) => {
    const f = Buffer.from(defs.encodeMethod(defs.BasicQosOk, ch, {}) as Buffer);
    f[f.length - 1] = 0;
    return f;
  }),
  fc.constant(rawFrame(5, 1, Buffer.from([1, 2, 3]))),
  fc.constant(rawFrame(3, 1, Buffer.alloc(MAX_FRAME + 1))),
);

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function rawFrame(type: number, ch: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt8(type, 0);
  head.writeUInt16BE(ch, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([206])]);
}

describe('FrameReader', () => {
  it('gives the same frames and errors as amqplib for any input, cut anywhere', () => {
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (list, cuts) => {
        const input = Buffer.concat(list);
        expect(readAll(true, input, cuts)).toEqual(readAll(false, input, cuts));
      }),
      { numRuns: 1500 },
    );
  });

  it('decodes a delivery as amqplib does, reusing its strings when the bytes repeat', () => {
    const deliver = (routingKey: string) =>
      defs.encodeMethod(defs.BasicDeliver, 1, { consumerTag: 'ctag-1', deliveryTag: 7, redelivered: true, exchange: 'x', routingKey }) as Buffer;
    const { source: s, push } = source(true);
    push(Buffer.concat([deliver('a.b'), deliver('a.b'), deliver('a.c')]));
    const read = [s.recvFrame(), s.recvFrame(), s.recvFrame(), s.recvFrame()];
    expect(read).toEqual([
      { id: defs.BasicDeliver, channel: 1, fields: { consumerTag: 'ctag-1', deliveryTag: 7, redelivered: true, exchange: 'x', routingKey: 'a.b' } },
      { id: defs.BasicDeliver, channel: 1, fields: { consumerTag: 'ctag-1', deliveryTag: 7, redelivered: true, exchange: 'x', routingKey: 'a.b' } },
      { id: defs.BasicDeliver, channel: 1, fields: { consumerTag: 'ctag-1', deliveryTag: 7, redelivered: true, exchange: 'x', routingKey: 'a.c' } },
      false,
    ]);
  });

  it('decodes basic properties as amqplib does, reusing a content type when its bytes repeat', () => {
    const header = (contentType: string) =>
      defs.encodeProperties(defs.BasicProperties, 1, 7, { contentType, deliveryMode: 2, messageId: 'm-1', headers: { tenant: 'acme' } }) as Buffer;
    const { source: s, push } = source(true);
    push(Buffer.concat([header('application/json'), header('application/json'), header('text/plain')]));
    const read = [s.recvFrame(), s.recvFrame(), s.recvFrame()] as { fields: Record<string, unknown> }[];
    expect(read.map((f) => f.fields)).toEqual(
      ['application/json', 'application/json', 'text/plain'].map((contentType) => defs.decode(60, header(contentType).subarray(19, -1))),
    );
    expect(read[0]!.fields).not.toBe(read[1]!.fields);
    expect(read[0]!.fields['headers']).toEqual({ tenant: 'acme' });
  });

  it('hands amqplib its own heartbeat object', () => {
    const { source: s, push } = source(true);
    push(frames.HEARTBEAT_BUF as Buffer);
    expect(s.recvFrame()).toBe(frames.HEARTBEAT);
  });
});
