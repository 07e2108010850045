/**
 * Pure: a function's `batch:` and `rateLimit:` (already shape-checked) → BatchConfig and
 * RateLimitConfig, with the settings they cannot be combined with reported where they were written.
 */
import type { BuildContext } from './context';
import { DEFAULTS, type BatchConfig, type RateLimitConfig } from './types';
import { formatDuration, parseDuration, parseRate } from './units';
import { MAX_BATCH_WINDOW_MS, MAX_RATE_COUNT } from './limits';

type Obj = Record<string, unknown>;

export function batchAndRate(ctx: BuildContext, e: Obj, pointer: string): { batch?: BatchConfig; rateLimit?: RateLimitConfig } {
  const at = (...keys: string[]) => pointer + ctx.pointer(...keys);
  const out: { batch?: BatchConfig; rateLimit?: RateLimitConfig } = {};
  if (e.rateLimit !== undefined) {
    const rate = parseRate(e.rateLimit);
    if (rate && rate.count > MAX_RATE_COUNT) {
      ctx.report('WARREN_E_CONFIG_TYPE', `got ${JSON.stringify(e.rateLimit)}`, at('rateLimit'), {
        expected: `at most ${MAX_RATE_COUNT.toLocaleString('en')} per second or per minute`,
        hint: `one runtime starts far fewer messages a second than that: leave rateLimit out for no limit, or write a limit your downstream really has, e.g. \`rateLimit: 500/s\``,
      });
    } else if (rate) out.rateLimit = rate;
    else
      ctx.report('WARREN_E_CONFIG_TYPE', `got ${JSON.stringify(e.rateLimit)}`, at('rateLimit'), {
        expected: 'a rate of at least 1',
        hint: 'e.g. `rateLimit: 100/s` or `rateLimit: 30/min`',
      });
  }
  if (e.batch === undefined || e.batch === null || typeof e.batch !== 'object') return out;
  const b = e.batch as Obj;
  const size = typeof b.size === 'number' ? b.size : 1;
  const windowMs = b.window === undefined ? DEFAULTS.batchWindowMs : (parseDuration(b.window) ?? DEFAULTS.batchWindowMs);
  out.batch = { size, windowMs };
  if (windowMs > MAX_BATCH_WINDOW_MS) {
    ctx.report('WARREN_E_CONFIG_TYPE', `got ${String(b.window)}`, at('batch', 'window'), {
      expected: `at most ${formatDuration(MAX_BATCH_WINDOW_MS)}`,
      hint: 'a batch is held unacked while it fills, and RabbitMQ takes back what a consumer holds past its consumer_timeout (30 min by default); for hourly or daily work use `schedule:`',
    });
  }
  if (e.output !== undefined) {
    ctx.report('WARREN_E_CONFIG_CONFLICT', 'a batch function has no `output`', at('output'), {
      onKey: true,
      hint: 'a batch handler returns which items failed, not a value per message; publish from the handler with ctx.publish, or drop `batch:`',
    });
  }
  return out;
}
