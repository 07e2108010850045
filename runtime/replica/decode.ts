/**
 * SPEC §3 decoding rules, pure. `application/json` must parse; no content type parses as JSON when
 * it can (a hand-written producer's plain `Test!` arrives as the string), text arrives as a string,
 * anything else as the Buffer itself.
 */

export type Decoded = { ok: true; value: unknown } | { ok: false; error: Error };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function decodeBody(content: Buffer, contentType: string | undefined): Decoded {
  if (!contentType) {
    const text = content.toString('utf8');
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch {
      return { ok: true, value: text };
    }
  }
  if (JSON_TYPE.test(contentType)) {
    try {
      return { ok: true, value: JSON.parse(content.toString('utf8')) };
    } catch (err) {
      return { ok: false, error: err as Error };
    }
  }
  if (/^text\//i.test(contentType)) return { ok: true, value: content.toString('utf8') };
  return { ok: true, value: content };
}
