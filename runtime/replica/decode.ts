/**
 * SPEC §3 decoding rules, pure. `application/json` must parse; no content type parses as JSON when
 * it can (a hand-written producer's plain `Test!` arrives as the string), text arrives as a string,
 * anything else as the Buffer itself. Never throws, whatever the bytes: a body is input, not code.
 */
import { BEFORE_THE_HANDLER, refusal } from './refusal';

export type Decoded = { ok: true; value: unknown } | { ok: false; error: Error };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

// fatal: bytes that are not UTF-8 are refused rather than silently replaced by U+FFFD, so a
// JSON body never reaches a handler with characters it did not contain.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function utf8Text(content: Buffer): string | undefined {
  try {
    return utf8.decode(content);
  } catch {
    return undefined;
  }
}

type Kind = 'json' | 'text' | 'bytes';

/** What each content type seen lately means (a replica sees a handful): the regular expressions run once per type, not per message. */
const kinds = new Map<string, Kind>();
const KINDS_KEPT = 64;

/**
 * The content type of the last message and its kind: a replica's messages mostly share one, and
 * comparing two equal strings costs less than the Map's hash of a string new with each message.
 */
let lastType = '';
let lastKind: Kind = 'bytes';

function kindOf(type: string): Kind {
  if (type === lastType) return lastKind;
  let kind = kinds.get(type);
  if (kind === undefined) {
    kind = JSON_TYPE.test(type) ? 'json' : /^text\//i.test(type) ? 'text' : 'bytes';
    // Anyone can send any content type: the memory stays bounded whatever they send.
    if (kinds.size >= KINDS_KEPT) kinds.clear();
    kinds.set(type, kind);
  }
  lastType = type;
  lastKind = kind;
  return kind;
}

export function decodeBody(content: Buffer, contentType: unknown): Decoded {
  const type = typeof contentType === 'string' ? contentType : '';
  if (!type) {
    const text = utf8Text(content);
    // Neither JSON nor UTF-8 text: the bytes themselves, as for any binary content type.
    if (text === undefined) return { ok: true, value: content };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: true, value: text };
    }
  }
  const kind = kindOf(type);
  if (kind === 'json') {
    const text = utf8Text(content);
    if (text === undefined) return { ok: false, error: refusal('the body is not valid UTF-8, so it cannot be JSON', BEFORE_THE_HANDLER) };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (err) {
      if (text.trim() === '') return { ok: false, error: refusal('the body is empty, and the content type says JSON', BEFORE_THE_HANDLER) };
      return { ok: false, error: refusal(`the body is not valid JSON: ${(err as Error).message}`, BEFORE_THE_HANDLER) };
    }
  }
  if (kind === 'text') return { ok: true, value: content.toString('utf8') };
  return { ok: true, value: content };
}
