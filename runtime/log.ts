/**
 * The one pino root of a thread. JSON lines on stdout by default; `pretty` (warren dev) formats them
 * in-thread with pino-pretty, so no transport thread is spawned per replica.
 */
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import { redactUrl } from './errors';

export interface LogOptions {
  level?: string;
  pretty?: boolean;
  base?: Record<string, unknown>;
}

export function createLogger(options: LogOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: options.base ?? {},
    redact: { paths: ['password', '*.password', 'url', '*.url'], censor: redactValue },
  };
  if (options.pretty) {
    // Loaded only for `warren dev`, so production start-up does not pay for it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => NodeJS.WritableStream;
    return pino(settings, pretty({ colorize: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(settings, pino.destination({ fd: 1, sync: false }));
}

function redactValue(value: unknown): unknown {
  if (typeof value !== 'string') return '[redacted]';
  return redactUrl(value);
}

export type { Logger };
