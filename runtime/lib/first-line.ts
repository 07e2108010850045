/** An error message's first line, trimmed and cut to `max` characters (an ellipsis ends a cut line): for a log field or a status column. */
export function firstLine(message: unknown, max = 200): string {
  const text = typeof message === 'string' ? message : String(message);
  const line = (text.split('\n', 1)[0] ?? '').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
