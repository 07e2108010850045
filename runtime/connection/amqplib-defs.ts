/**
 * amqplib's decoder of method arguments and content-header properties (`lib/defs.js`, which the
 * package does not export), for ./frame-reader.ts. Loaded with Node's require from amqplib's own
 * folder, so it is the very module amqplib uses, loaded once. The replica thread's bundle, which
 * carries its own copy of amqplib, has this file swapped for one that imports that copy's decoder
 * (runtime/build.mjs): a second copy in every replica thread cost about 0.7 MiB each.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** decodes a method's arguments or a content header's properties, by method or class id */
export type Decode = (id: number, args: Buffer) => unknown;
/** decodes a field table (a content header's `headers`) */
export type DecodeFields = (table: Buffer) => Record<string, unknown>;

let decode: Decode | null = null;
let decodeFields: DecodeFields | null = null;

export function amqplibDecode(): Decode {
  if (decode) return decode;
  const require = createRequire(import.meta.url);
  const defs = require(join(dirname(require.resolve('amqplib')), 'lib', 'defs.js')) as { decode?: unknown };
  if (typeof defs.decode !== 'function') throw new Error("amqplib's lib/defs.js has no decode function");
  return (decode = defs.decode as Decode);
}

export function amqplibDecodeFields(): DecodeFields {
  if (decodeFields) return decodeFields;
  const require = createRequire(import.meta.url);
  const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as { decodeFields?: unknown };
  if (typeof codec.decodeFields !== 'function') throw new Error("amqplib's lib/codec.js has no decodeFields function");
  return (decodeFields = codec.decodeFields as DecodeFields);
}
