/**
 * A message body as Warren publishes it (ctx.publish, a function's output): a Buffer (any Uint8Array) as it is, a
 * string as text/plain, anything else as JSON. A value JSON cannot hold (a BigInt, a cycle) is refused
 * with an error that says so, in a replica and in `warren invoke` alike.
 */
export function encodeBody(content: unknown): { body: Buffer; contentType?: string } {
  if (Buffer.isBuffer(content)) return { body: content };
  // A Uint8Array (TextEncoder's, a crypto digest's) is bytes too, not an object of numbered keys.
  if (content instanceof Uint8Array) return { body: Buffer.from(content.buffer, content.byteOffset, content.byteLength) };
  if (typeof content === 'string') return { body: Buffer.from(content), contentType: 'text/plain' };
  let json: string | undefined;
  try {
    json = JSON.stringify(content ?? null);
  } catch (err) {
    throw refused(err instanceof Error ? err.message.split('\n')[0]! : String(err));
  }
  // A function or a symbol: JSON.stringify leaves it out rather than throwing.
  if (json === undefined) throw refused(`a ${typeof content} has no JSON form`);
  return { body: Buffer.from(json), contentType: 'application/json' };
}

function refused(why: string): TypeError {
  const err = new TypeError(`the message body cannot be sent as JSON (${why}): publish plain JSON values, a string or a Buffer`);
  // Where Warren found out says nothing to the handler's author; the message says it all.
  err.stack = `TypeError: ${err.message}`;
  return err;
}
