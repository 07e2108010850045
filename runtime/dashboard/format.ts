/** How numbers and times read on the page. */

/** Messages per second: 0, 0.04, 2.5, 98, 1,250, 12.3k. */
export function rate(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return compact(n);
}

/** A count as a person reads it at a glance: 950, 4,267, 12.3k, 1.2M (never "1000.0k"). */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return compact(n);
}

/**
 * Three significant digits at most, with k and M past 10,000, and no trailing ".0": 0, 0.04, 0.5,
 * 3, 9.9, 42, 4,267, 12.3k, 120k, 1.2M.
 */
function compact(n: number): string {
  if (n === 0 || !Number.isFinite(n)) return n === 0 ? '0' : '–';
  const abs = Math.abs(n);
  if (abs >= 999_950) return `${trim((n / 1_000_000).toFixed(abs >= 9_999_500 ? 0 : 1))}M`;
  if (abs >= 9_999.5) return `${trim((n / 1000).toFixed(abs >= 99_950 ? 0 : 1))}k`;
  if (abs >= 9.995) return Math.round(n).toLocaleString('en');
  if (abs >= 0.1) return trim(n.toFixed(1));
  return String(Number(n.toPrecision(1)));
}

function trim(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/** A duration in milliseconds: 0 ms, 0.4 ms, 3.1 ms, 175 ms, 1.7 s, 12 s, 2.5 min. */
export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n === 0) return '0 ms';
  if (n >= 120_000) return `${trim((n / 60_000).toFixed(1))} min`;
  if (n >= 10_000) return `${Math.round(n / 1000)} s`;
  if (n >= 999.5) return `${trim((n / 1000).toFixed(1))} s`;
  if (n >= 9.95) return `${Math.round(n)} ms`;
  if (n >= 0.1) return `${trim(n.toFixed(1))} ms`;
  return `${Number(n.toPrecision(1))} ms`;
}

/** A size in bytes: 86 bytes, 1 byte, 12.4 KB, 3.1 MB (1 KB = 1,000 bytes, as browsers and disks count). */
export function bytes(n: number): string {
  if (n < 1000) return plural(n, 'byte');
  if (n < 999_950) return `${trim((n / 1000).toFixed(n < 99_950 ? 1 : 0))} KB`;
  return `${trim((n / 1_000_000).toFixed(1))} MB`;
}

/**
 * The labels of a chart's value axis: the unit on each, none on 0 ("0", "250 ms", "500 ms"), and as
 * many decimals as the step between ticks needs, the same on every tick ("0.5 s", "1.0 s", "1.5 s"); k and M past 10,000.
 */
export function axisLabels(ticks: readonly number[], unit: 'ms' | 'rate' | 'count'): string[] {
  const max = Math.max(0, ...ticks.map(Math.abs));
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : max;
  let scale = 1;
  let suffix = '';
  if (unit === 'ms') {
    [scale, suffix] = max >= 120_000 ? [60_000, ' min'] : max >= 1000 ? [1000, ' s'] : [1, ' ms'];
  } else if (max >= 1_000_000) [scale, suffix] = [1_000_000, 'M'];
  else if (max >= 10_000) [scale, suffix] = [1000, 'k'];
  let decimals = 0;
  while (decimals < 3 && Math.abs(Math.round((step / scale) * 10 ** decimals) - (step / scale) * 10 ** decimals) > 1e-6) decimals++;
  const digits = { minimumFractionDigits: decimals, maximumFractionDigits: decimals };
  return ticks.map((v) => (v === 0 ? '0' : `${(v / scale).toLocaleString('en', digits)}${suffix}`));
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return 'time unknown';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** 14:05:30, local time on a 24-hour clock: the charts' time axis and the page's other times of day. */
export function clock(msSinceEpoch: number): string {
  const d = new Date(msSinceEpoch);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** A time to come: 14:05:30 within the next day, otherwise 2026-12-01 02:00 (local time). */
export function when(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  if (t - now < 86_400_000) return clock(t);
  const d = new Date(t);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function shortVersion(v: string | null): string {
  return v ? v.slice(0, 8) : 'not started';
}

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
