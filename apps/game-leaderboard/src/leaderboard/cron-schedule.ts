import { Cron } from 'croner';

/**
 * A board's reset schedule: a five-field cron expression in UTC (`minute hour day-of-month
 * month day-of-week`), read by croner. Fields take numbers, ranges, steps (`*\/15`, `9-17/4`,
 * `5/20`), lists, names (`MON`, `JAN`), `L` (last day of the month), `W`, `#` and `?`;
 * day-of-week 0-7 (0 and 7 are Sunday); the macros `@hourly`, `@daily`, `@weekly`, `@monthly`,
 * `@yearly`. When both day fields are restricted a day matches if either does (Vixie cron).
 * Seconds, years and time zones are refused: a period boundary is a whole UTC minute.
 */
export interface CronSchedule {
  /** The expression as given (trimmed). */
  readonly expression: string;
  /** The first firing strictly after `ms` (ms since 1970, a whole minute). */
  next(ms: number): number;
  /** The last firing at or before `ms`. */
  previous(ms: number): number;
}

/** A cron expression that cannot be read or never fires, with the reason. */
export class CronError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CronError';
  }
}

/** Parses `expression`; throws a `CronError` when croner cannot read it or it never fires. */
export function parseCron(expression: string): CronSchedule {
  const trimmed = expression.trim();
  let cron: Cron;
  try {
    // paused: only the date arithmetic is used, no timer is ever started.
    cron = new Cron(trimmed, { timezone: 'UTC', paused: true, mode: '5-part', sloppyRanges: true });
  } catch (error) {
    throw new CronError((error as Error).message.replace(/^CronPattern: /, ''));
  }
  // croner costs ~0.2 ms a lookup, and every submission asks: the current window is cached.
  let window: { start: number; end: number } | undefined;
  const windowAt = (ms: number): { start: number; end: number } => {
    if (window && window.start <= ms && ms < window.end) return window;
    // previousRuns is strictly before its reference (same second included): +1 makes it "at or before".
    const [start] = cron.previousRuns(1, new Date(ms + 1));
    if (!start)
      throw new CronError(`"${trimmed}" never fired before ${new Date(ms).toISOString()}`);
    const end = cron.nextRun(start);
    if (!end) throw new CronError(`"${trimmed}" never fires again`);
    window = { start: start.getTime(), end: end.getTime() };
    return window;
  };
  // Refuses a schedule that never fires (e.g. February 30th) when it is configured, not later.
  if (!cron.nextRun(new Date(Date.UTC(2000, 0, 1)))) {
    throw new CronError(`"${trimmed}" never fires`);
  }
  return {
    expression: trimmed,
    next: (ms) => windowAt(ms).end,
    previous: (ms) => windowAt(ms).start,
  };
}
