/** A board's time window: `all` never ends, the others are UTC calendar periods. */
export type Period = 'all' | 'daily' | 'weekly' | 'monthly';
export type CalendarPeriod = Exclude<Period, 'all'>;
export const CALENDAR_PERIODS: readonly CalendarPeriod[] = ['daily', 'weekly', 'monthly'];

const DAY_MS = 86_400_000;

/** One occurrence of a calendar period. */
export interface PeriodWindow {
  /** Stable name used in the Redis key: `2026-11-26`, `2026-11-23` (the Monday), `2026-11`. */
  id: string;
  startMs: number;
  endMs: number;
}

function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The window of `period` that contains `nowMs` (UTC). */
export function periodWindow(period: CalendarPeriod, nowMs: number): PeriodWindow {
  const today = dayStart(nowMs);
  if (period === 'daily') return { id: isoDate(today), startMs: today, endMs: today + DAY_MS };
  if (period === 'weekly') {
    const sinceMonday = (new Date(today).getUTCDay() + 6) % 7;
    const startMs = today - sinceMonday * DAY_MS;
    return { id: isoDate(startMs), startMs, endMs: startMs + 7 * DAY_MS };
  }
  const date = new Date(nowMs);
  const startMs = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
  const endMs = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  return { id: isoDate(startMs).slice(0, 7), startMs, endMs };
}

/** Milliseconds until a period board written at `nowMs` may expire: its end plus the retention. */
export function periodTtlMs(period: CalendarPeriod, nowMs: number, retentionMs: number): number {
  return periodWindow(period, nowMs).endMs + retentionMs - nowMs;
}

/** Every window of `period` whose board may still exist at `nowMs` (current first). */
export function retainedWindows(
  period: CalendarPeriod,
  nowMs: number,
  retentionMs: number,
): PeriodWindow[] {
  const windows: PeriodWindow[] = [];
  let window = periodWindow(period, nowMs);
  while (window.endMs + retentionMs > nowMs) {
    windows.push(window);
    window = periodWindow(period, window.startMs - 1);
  }
  return windows;
}
