import { describe, expect, it } from 'vitest';
import { COUNT_CAP, decodeState, dueTicks, encodeState, laterTick, latestDue, parseSchedule, tickMessageId, type Schedule } from '../../runtime/schedule/ticks';

function schedule(expression: string, timezone?: string): Schedule {
  const parsed = parseSchedule(expression, timezone);
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed;
}
const t = (iso: string): Date => new Date(iso);

describe('parseSchedule', () => {
  it('takes 5 fields, or 6 with seconds first', () => {
    expect(schedule('0 2 * * *').next(t('2026-01-01T03:00:00Z'))).toEqual(t('2026-01-02T02:00:00Z'));
    expect(schedule('*/10 * * * * *').next(t('2026-01-01T00:00:01Z'))).toEqual(t('2026-01-01T00:00:10Z'));
  });

  it('takes cron nicknames, in its time zone, and names them when one is not known', () => {
    expect(schedule('@daily', 'Europe/Paris').next(t('2026-01-10T12:00:00Z'))).toEqual(t('2026-01-10T23:00:00Z'));
    expect(schedule('@hourly').next(t('2026-01-10T12:10:00Z'))).toEqual(t('2026-01-10T13:00:00Z'));
    expect(parseSchedule('@reboot')).toMatchObject({ on: 'schedule', error: expect.stringContaining('@yearly, @annually, @monthly, @weekly, @daily') });
  });

  it('fires at the local time of its time zone', () => {
    // 02:00 in Paris is 01:00 UTC in winter, 00:00 UTC in summer.
    expect(schedule('0 2 * * *', 'Europe/Paris').next(t('2026-01-10T12:00:00Z'))).toEqual(t('2026-01-11T01:00:00Z'));
    expect(schedule('0 2 * * *', 'Europe/Paris').next(t('2026-07-10T12:00:00Z'))).toEqual(t('2026-07-11T00:00:00Z'));
  });

  it('says what is wrong with a bad expression or zone', () => {
    expect(parseSchedule('0 2 * *')).toMatchObject({ on: 'schedule', error: expect.stringContaining('4 fields') });
    expect(parseSchedule('0 25 * * *')).toMatchObject({ on: 'schedule', error: expect.stringContaining('not a cron expression') });
    expect(parseSchedule('* * * * * * *')).toMatchObject({ on: 'schedule' });
    expect(parseSchedule('0 2 * * *', 'Mars/Olympus')).toMatchObject({ on: 'timezone', error: 'unknown time zone "Mars/Olympus"' });
  });

  it('refuses a valid expression that never fires, rather than a schedule that silently never runs', () => {
    expect(parseSchedule('0 0 31 2 *')).toMatchObject({ on: 'schedule', error: '"0 0 31 2 *" never fires (no such date)' });
    expect(parseSchedule('0 0 31 4 *')).toMatchObject({ on: 'schedule', error: expect.stringContaining('never fires') });
    // Day of month OR day of week, as in cron: 30 February never comes, Mondays in February do.
    expect(schedule('0 0 30 2 1').next(t('2026-01-01T00:00:00Z'))).toEqual(t('2026-02-02T00:00:00Z'));
    expect(schedule('0 0 29 2 *').next(t('2026-01-01T00:00:00Z'))).toEqual(t('2028-02-29T00:00:00Z'));
  });
});

describe('dueTicks', () => {
  const everySecond = schedule('* * * * * *');

  it('emits nothing before the first tick anyone emitted', () => {
    expect(dueTicks(everySecond, null, t('2026-01-01T00:00:05Z'))).toEqual({ emit: [], skipped: 0 });
  });

  it('emits the ticks due since the last one, oldest first', () => {
    expect(dueTicks(everySecond, t('2026-01-01T00:00:00Z'), t('2026-01-01T00:00:02.400Z'))).toEqual({
      emit: [t('2026-01-01T00:00:01Z'), t('2026-01-01T00:00:02Z')],
      skipped: 0,
    });
    expect(dueTicks(everySecond, t('2026-01-01T00:00:00Z'), t('2026-01-01T00:00:00.999Z')).emit).toEqual([]);
  });

  it('skips and counts ticks missed longer ago than the catch-up window', () => {
    const due = dueTicks(schedule('0 * * * *'), t('2026-01-01T00:00:00Z'), t('2026-01-01T05:00:10Z'), 30_000);
    expect(due).toEqual({ emit: [t('2026-01-01T05:00:00Z')], skipped: 4 });
  });

  it('stops counting after a long absence and still finds the recent ticks', () => {
    const due = dueTicks(everySecond, t('2025-01-01T00:00:00Z'), t('2026-01-01T00:00:00.500Z'), 3_000);
    expect(due.skipped).toBe(COUNT_CAP);
    expect(due.emit).toEqual([t('2025-12-31T23:59:58Z'), t('2025-12-31T23:59:59Z'), t('2026-01-01T00:00:00Z')]);
  });
});

describe('latestDue', () => {
  it('takes over with the latest tick due and counts every earlier one as skipped', () => {
    // Every 2 s, away for 4.5 min: 134 ticks missed, 15 of them within the 30 s catch-up window.
    const due = dueTicks(schedule('*/2 * * * * *'), t('2026-01-01T00:00:00Z'), t('2026-01-01T00:04:30.500Z'));
    expect(due.emit).toHaveLength(15);
    expect(latestDue(due)).toEqual({ emit: [t('2026-01-01T00:04:30Z')], skipped: 134 });
  });

  it('leaves one tick or none as it is', () => {
    const one = dueTicks(schedule('0 * * * *'), t('2026-01-01T00:00:00Z'), t('2026-01-01T05:00:10Z'));
    expect(latestDue(one)).toEqual(one);
    expect(latestDue({ emit: [], skipped: 3 })).toEqual({ emit: [], skipped: 3 });
  });
});

describe('emitter state', () => {
  it('round-trips the last tick and keeps the later of two', () => {
    expect(decodeState(encodeState(t('2026-01-01T00:00:01Z')))).toEqual(t('2026-01-01T00:00:01Z'));
    expect(decodeState(encodeState(null))).toBeNull();
    expect(decodeState(Buffer.from('garbage'))).toBeNull();
    expect(laterTick(t('2026-01-01T00:00:01Z'), t('2026-01-01T00:00:02Z'))).toEqual(t('2026-01-01T00:00:02Z'));
    expect(laterTick(null, t('2026-01-01T00:00:02Z'))).toEqual(t('2026-01-01T00:00:02Z'));
  });

  it('names each tick the same way on every instance', () => {
    expect(tickMessageId('nightly', t('2026-01-01T02:00:00Z'))).toBe('warren.schedule:nightly:2026-01-01T02:00:00.000Z');
  });
});
