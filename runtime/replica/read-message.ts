/**
 * Step 2 of a message's path, pure: decode and validate. Too large, not JSON when it says it is, or
 * against the function's schema: a final outcome the handler never sees.
 */
import type { FunctionConfig } from '../config/types';
import { decodeBody } from './decode';
import type { Outcome } from './outcome';
import { BEFORE_THE_HANDLER, refusal } from './refusal';

/** null when the function has no schema; otherwise returns a description of what is wrong, or null */
export type Validate = ((value: unknown) => string | null) | null;

export type Read = { ok: true; value: unknown } | { ok: false; outcome: Outcome };

export function readMessage(
  content: Buffer,
  contentType: string | undefined,
  fn: Pick<FunctionConfig, 'name' | 'maxBodyBytes'>,
  validate: Validate,
  contentEncoding?: unknown,
): Read {
  if (content.length > fn.maxBodyBytes) {
    // What to do about it, in the dead letter itself: the body is kept there, whole, for a replay.
    const fix = `raise functions.${fn.name}.maxBodySize in queues.yaml (at most 128MiB), then \`warren dlq replay ${fn.name}\``;
    return {
      ok: false,
      outcome: { kind: 'too-large', error: refusal(`body of ${content.length} bytes exceeds maxBodySize ${fn.maxBodyBytes}: ${fix}`, BEFORE_THE_HANDLER) },
    };
  }
  const decoded = decodeBody(content, contentType);
  if (!decoded.ok) return { ok: false, outcome: { kind: 'invalid-json', error: encodedNote(decoded.error, contentEncoding) } };
  if (validate) {
    // Bytes that are not UTF-8 text reach a handler as a Buffer; checked against the schema, a Buffer
    // reads as an object of numbered bytes, and the answer named a missing property instead.
    const problem = Buffer.isBuffer(decoded.value) ? bytesAgainstSchema(decoded.value, contentType) : validateSafely(validate, decoded.value);
    if (problem) return { ok: false, outcome: { kind: 'schema', error: refusal(`schema validation failed: ${problem}`, BEFORE_THE_HANDLER) } };
  }
  return decoded;
}

/** the most of a content type a schema failure quotes: anyone can send any */
const TYPE_SHOWN = 100;

/**
 * Why a body that arrives as bytes cannot match a schema: its content type is neither JSON nor text
 * (whatever the bytes are, they reach the handler as a Buffer), or, with none, they are not UTF-8.
 */
function bytesAgainstSchema(body: Buffer, contentType: string | undefined): string {
  if (typeof contentType === 'string' && contentType.trim() !== '') {
    const shown = contentType.length > TYPE_SHOWN ? `${contentType.slice(0, TYPE_SHOWN)}…` : contentType;
    return `its content type "${shown}" is not JSON, so the body reaches the function as ${body.length} bytes, not the JSON the schema describes: publish it as application/json, or with no content type`;
  }
  return `the body is ${body.length} bytes that are not UTF-8 text, so not the JSON the schema describes`;
}

/**
 * The schema's answer. A validator that throws is an answer too: a recursive schema follows a value
 * nested thousands deep until the stack overflows. Thrown out of here, the message was given back to
 * the queue as unsettled, came back until its redelivery limit, and was dead-lettered as if a replica
 * had died on it.
 */
function validateSafely(validate: NonNullable<Validate>, value: unknown): string | null {
  try {
    return validate(value);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const why = err instanceof RangeError ? ' (the message nests deeper than the schema can follow)' : '';
    return `the schema could not check the message: ${message}${why}`;
  }
}

/** Content encodings that leave the bytes as they are. */
const PLAIN_ENCODINGS = new Set(['', 'identity', 'utf-8', 'utf8', '7bit', '8bit', 'binary']);

/**
 * A body that is not JSON because it is compressed (`content_encoding: gzip`, as some producers send)
 * says so: Warren does not undo an encoding, and "not valid UTF-8" alone sent people looking for a
 * character set problem.
 */
function encodedNote(error: Error, contentEncoding: unknown): Error {
  if (typeof contentEncoding !== 'string' || PLAIN_ENCODINGS.has(contentEncoding.trim().toLowerCase())) return error;
  return refusal(
    `${error.message} (its content encoding is ${contentEncoding}, which Warren does not undo: publish JSON unencoded, or give it another content type and decode ctx.raw in the handler)`,
    BEFORE_THE_HANDLER,
  );
}
