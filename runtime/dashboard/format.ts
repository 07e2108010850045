/** How numbers and times read on the page. */

export function rate(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n === 0) return '0';
  if (n >= 10_000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 1_000) return `${(n / 1000).toFixed(1)}k`;
  if (n >= 10) return n.toFixed(0);
  return n.toFixed(1);
}

export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${(n / 1000).toFixed(1)}k`;
  return n.toLocaleString('en');
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n >= 1_000) return `${(n / 1000).toFixed(n >= 10_000 ? 0 : 1)} s`;
  if (n >= 10) return `${n.toFixed(0)} ms`;
  return `${n.toFixed(1)} ms`;
}

export function ago(iso: string | null): string {
  if (!iso) return 'time unknown';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function shortVersion(v: string | null): string {
  return v ? v.slice(0, 8) : 'not started';
}

/** A body as the editor shows it: JSON pretty-printed, anything else as it is. */
/**
 * JSON indented for reading, when that changes nothing but spaces: a number JavaScript cannot hold
 * exactly (12345678901234567890, 1.10) would come back altered, so such a body is shown as it is.
 */
export function prettyBody(body: string, encoding: 'utf8' | 'base64'): string {
  if (encoding === 'base64') return body;
  try {
    const value: unknown = JSON.parse(body);
    return JSON.stringify(value) === withoutSpaces(body) ? JSON.stringify(value, null, 2) : body;
  } catch {
    return body;
  }
}

/** JSON text without the white space between its tokens (strings kept as they are). */
function withoutSpaces(json: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += json[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') out += c;
  }
  return out;
}

export function plural(n: number, word: string): string {
  // match → matches, box → boxes; the dashboard's other words take an s
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : /(s|x|ch|sh)$/.test(word) ? 'es' : 's'}`;
}
