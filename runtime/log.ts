/**
 * The one pino root of a thread. JSON lines on stdout by default; `pretty` (warren dev) formats them
 * in-thread with pino-pretty, so no transport thread is spawned per replica.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

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
  if (options.pretty) return pino(settings, pretty({ colorize: true, ignore: 'pid,hostname', sync: true }));
  return pino(settings, pino.destination({ fd: 1, sync: false }));
}

function redactValue(value: unknown): unknown {
  if (typeof value !== 'string') return '[redacted]';
  return value.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

export type { Logger };
