/**
 * Pure: when a scheduled function's ticks fall, and what an emitter does with the ones it finds due.
 * Cron is croner's (5 fields, or 6 with seconds first); time zones are IANA names (UTC by default).
 */
import { Cron } from 'croner';

export interface Schedule {
  expression: string;
  timezone: string;
  /** the first tick strictly after `after`, or null when the expression never fires again */
  next(after: Date): Date | null;
}

/** A cron expression and time zone → a Schedule, or the reason it is not one (for the config error). */
/** The cron nicknames a schedule may be written as. */
const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

export function parseSchedule(expression: string, timezone = 'UTC'): Schedule | { error: string; on: 'schedule' | 'timezone' } {
  const fields = expression.trim().split(/\s+/).length;
  // Cron's nicknames (`@daily`, `@hourly`, …), read by croner; `@reboot` has no time to run at.
  const nickname = NICKNAMES.includes(expression.trim().toLowerCase());
  if (expression.trim().startsWith('@') && !nickname)
    return { error: `"${expression}" is not a schedule Warren knows: use one of ${NICKNAMES.join(', ')}, or cron fields`, on: 'schedule' };
  if (!nickname && fields !== 5 && fields !== 6) return { error: `"${expression}" has ${fields} field${fields === 1 ? '' : 's'}`, on: 'schedule' };
  if (!validTimezone(timezone)) return { error: `unknown time zone "${timezone}"`, on: 'timezone' };
  let cron: Cron;
  try {
    cron = new Cron(expression.trim(), { timezone, paused: true });
  } catch (err) {
    return { error: `"${expression}" is not a cron expression: ${(err as Error).message}`, on: 'schedule' };
  }
  // Valid fields that name no date (31 February, 31 April) would be a schedule that silently never runs.
  if (cron.nextRun() === null) return { error: `"${expression}" never fires (no such date)`, on: 'schedule' };
  return { expression, timezone, next: (after) => cron.nextRun(after) };
}

export function validTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Never count more ticks than this when a runtime was away for long (an every-second schedule,
 * months): each step is a croner call of tens to hundreds of µs on the main thread.
 */
export const COUNT_CAP = 1_000;

/**
 * How long a due tick may wait for its emitter and still be emitted: covers a hand-over (another
 * instance takes over when the emitter dies) and a slow start. Older ticks were missed while no runtime
 * ran: they are skipped and counted.
 */
export const CATCH_UP_MS = 30_000;

export interface DueTicks {
  /** ticks to emit now, oldest first */
  emit: Date[];
  /** ticks older than CATCH_UP_MS that are skipped (at most COUNT_CAP) */
  skipped: number;
}

/**
 * The ticks in (lastTick, now]: the recent ones are emitted, older ones skipped. A lastTick of null
 * (no runtime ever emitted) means nothing is due yet.
 */
export function dueTicks(schedule: Schedule, lastTick: Date | null, now: Date, catchUpMs = CATCH_UP_MS): DueTicks {
  const result: DueTicks = { emit: [], skipped: 0 };
  if (lastTick === null) return result;
  const horizon = now.getTime() - catchUpMs;
  let at = schedule.next(lastTick);
  while (at && at.getTime() < horizon) {
    if (result.skipped >= COUNT_CAP) {
      // A long absence: stop counting and jump to the first tick that is still recent.
      at = schedule.next(new Date(horizon - 1));
      break;
    }
    result.skipped++;
    at = schedule.next(at);
  }
  while (at && at.getTime() <= now.getTime()) {
    result.emit.push(at);
    at = schedule.next(at);
  }
  return result;
}

/**
 * What an emitter that takes over (a start, a hand-over) does with the ticks it finds due: it emits
 * at most one, the latest, as a Kubernetes CronJob runs only the latest of the schedules it missed; the
 * earlier ones count as skipped. A burst of catch-up runs at a cold start is not what a cron user
 * expects. (An emitter that stays active emits every tick its timer finds due: it did not miss them.)
 */
export function latestDue(due: DueTicks): DueTicks {
  if (due.emit.length <= 1) return due;
  return { emit: due.emit.slice(-1), skipped: due.skipped + due.emit.length - 1 };
}

/** The same tick always gets the same id, whichever instance emits it. */
export function tickMessageId(fnName: string, at: Date): string {
  return `warren.schedule:${fnName}:${at.toISOString()}`;
}

export function tickBody(at: Date): { scheduledAt: string } {
  return { scheduledAt: at.toISOString() };
}

/** The election queue's one message: the last tick emitted (null: none yet). */
export interface EmitterState {
  lastTick: string | null;
}

export function encodeState(lastTick: Date | null): Buffer {
  const state: EmitterState = { lastTick: lastTick ? lastTick.toISOString() : null };
  return Buffer.from(JSON.stringify(state));
}

/** The last tick a state message records; a message that does not parse counts as none. */
export function decodeState(content: Buffer): Date | null {
  try {
    const state = JSON.parse(content.toString('utf8')) as Partial<EmitterState>;
    if (typeof state.lastTick !== 'string') return null;
    const at = new Date(state.lastTick);
    return Number.isNaN(at.getTime()) ? null : at;
  } catch {
    return null;
  }
}

/** The later of two ticks (either may be null). */
export function laterTick(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a.getTime() >= b.getTime() ? a : b;
}
