/**
 * The one pino root of a thread. JSON lines on stdout by default; `pretty` (warren dev) formats them
 * in-thread with pino-pretty, so no transport thread is spawned per replica.
 */
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import { censorSecrets } from './log-secrets';
import { WarrenError } from './errors';

/** `warren dev`'s pretty lines, coloured or not (`logColour`); false: JSON lines. */
export type PrettyLogs = false | { colour: boolean };

export interface LogOptions {
  level?: string;
  pretty?: PrettyLogs;
  base?: Record<string, unknown>;
  /** write each line at once (`warren invoke`, whose handler may end its thread at any moment) */
  sync?: boolean;
  /** where JSON lines go instead of stdout (a test reads them back) */
  destination?: pino.DestinationStream;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** WARREN_LOG_LEVEL, any case (default info); another word is refused with the levels to pick from. */
export function logLevelOf(env: Record<string, string | undefined>): string {
  const written = env.WARREN_LOG_LEVEL?.trim();
  if (!written) return 'info';
  const level = written.toLowerCase();
  if (LEVELS.includes(level)) return level;
  throw new WarrenError('WARREN_E_CONFIG_TYPE', `got ${JSON.stringify(written)}`, {
    key: 'WARREN_LOG_LEVEL',
    expected: `one of ${LEVELS.join(', ')}`,
    hint: 'e.g. WARREN_LOG_LEVEL=debug, or unset it for info',
  });
}

/**
 * Pure: colour the pretty lines? Only on a terminal, as colorette (pino-pretty's colours) and most
 * tools decide, so a log sent to a file or a pipe holds no escape codes: NO_COLOR (set, not empty)
 * turns colour off, FORCE_COLOR turns it on (off when it is `0` or `false`), otherwise a terminal
 * other than TERM=dumb gets colour.
 */
export function logColour(env: Record<string, string | undefined>, isTTY: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR.trim().toLowerCase());
  return isTTY && env.TERM !== 'dumb';
}

export function createLogger(options: LogOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: options.base ?? {},
    // Passwords and URLs with credentials, masked in each line and each child's bindings (./log-secrets.ts).
    formatters: { log: censorSecrets, bindings: censorSecrets },
  };
  if (options.pretty) {
    // Loaded only for `warren dev`, so production start-up does not pay for it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => NodeJS.WritableStream;
    return pino(settings, pretty({ colorize: options.pretty.colour, ignore: 'pid,hostname', sync: true }));
  }
  return pino(settings, options.destination ?? pino.destination({ fd: 1, sync: options.sync ?? false }));
}

/**
 * Write out at once what the logger still buffers (pino's stdout writer is asynchronous): a replica
 * thread that ends (process.exit, an uncaught throw) took its handler's last lines with it, the very
 * lines that said why. Nothing to do for a synchronous writer; a writer that cannot says nothing.
 */
export function flushLogsNow(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
  try {
    stream?.flushSync?.();
  } catch {
    // the stream is closed or not open yet: nothing can be written
  }
}

export type { Logger };
