/**
 * Durations and sizes as people write them in queues.yaml. Pure; each parser returns undefined for
 * a value it cannot read so the caller can report where it was.
 */

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** the order units must appear in a compound duration such as `1h30m` */
const DURATION_ORDER = ['d', 'h', 'm', 's', 'ms'];

/** Kept in step with the `duration` pattern of runtime/queues.schema.json. */
export const DURATION_PATTERN = /^\s*(?:\d+(?:\.\d+)?(?:ms|s|m|h|d)\s*)+$/;

/** A number is milliseconds; a string is `500ms`, `30s`, `5m`, `1h`, `1d` or a sum like `1m30s`. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  if (typeof value !== 'string' || !DURATION_PATTERN.test(value)) return undefined;
  let total = 0;
  let lastRank = -1;
  for (const match of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    const unit = match[2] ?? '';
    const rank = DURATION_ORDER.indexOf(unit);
    if (rank <= lastRank) return undefined; // `5s1m` or `1s1s`: almost certainly a typo
    lastRank = rank;
    total += Number(match[1]) * (DURATION_UNITS_MS[unit] ?? NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** The shortest compound form of a duration: 1500 → `1s500ms`, 90000 → `1m30s`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  return formatDurationUpTo(ms, 'd');
}

/** formatDuration with its largest unit capped (retry queue names never use days: `24h`, not `1d`). */
export function formatDurationUpTo(ms: number, largest: 'd' | 'h'): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of DURATION_ORDER.slice(DURATION_ORDER.indexOf(largest))) {
    const size = DURATION_UNITS_MS[unit] ?? 1;
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}

/**
 * A duration for a person to read, with spaced units: 1500 → `1.5 s`, 250 → `250 ms`, 90000 →
 * `1 min 30 s`, 5400000 → `1 h 30 min`. Seconds keep up to three decimals (milliseconds).
 */
export function describeDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  if (total < 1_000) return `${total} ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = (total % 60_000) / 1_000;
  const parts = [hours > 0 ? `${hours} h` : '', minutes > 0 ? `${minutes} min` : '', seconds > 0 ? `${seconds} s` : ''];
  return parts.filter(Boolean).join(' ');
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Kept in step with the `size` pattern of runtime/queues.schema.json. */
export const SIZE_PATTERN = /^\s*\d+(?:\.\d+)?\s*(?:[bB]|[kKmMgG][iI]?[bB])?\s*$/;

/** A number is bytes; a string is `512`, `64KiB`, `1MiB`, `1GiB`, `10MB` (SI) … → bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !SIZE_PATTERN.test(value)) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return undefined;
  const unit = (match[2] ?? '').toLowerCase() || 'b';
  const factor = SIZE_UNITS[unit];
  return factor === undefined ? undefined : Math.round(Number(match[1]) * factor);
}

/** Memory limits: a bare number is MiB (`256`), a string is a size (`256MiB`, `1GiB`) → whole MiB. */
export function parseMemoryMb(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) return parseMemoryMb(Number(value));
  const bytes = parseSize(value);
  return bytes === undefined ? undefined : Math.ceil(bytes / 1024 ** 2);
}

/** Kept in step with the `rateLimit` pattern of runtime/queues.schema.json. */
const RATE_PATTERN = /^\s*(\d+)\s*\/\s*(s|sec|second|min|minute)\s*$/;

/** The unit a rate is written back in: `s` for a second's period, `min` for a minute's (what parseRate reads). */
export function rateUnit(periodMs: number): 's' | 'min' {
  return periodMs === 1_000 ? 's' : 'min';
}

/** `100/s` or `30/min` → { count, periodMs }; undefined for anything else or a count of 0. */
export function parseRate(value: unknown): { count: number; periodMs: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = RATE_PATTERN.exec(value);
  if (!match) return undefined;
  const count = Number(match[1]);
  if (!Number.isSafeInteger(count) || count < 1) return undefined;
  return { count, periodMs: match[2]!.startsWith('s') ? 1_000 : 60_000 };
}
