import { DomainError } from '@redis-patterns/service-kit';
import type { Board } from './board-config';
import { CALENDAR_PERIODS, periodTtlMs, periodWindow, retainedWindows } from './periods';

/** How long finished periods stay in Redis (and their rows in PostgreSQL), in milliseconds. */
export interface RetentionConfig {
  /** @default 172800000 (2 days) */
  daily: number;
  /** @default 1209600000 (14 days) */
  weekly: number;
  /** @default 5356800000 (62 days) */
  monthly: number;
  /** A configured board's finished period. @default 172800000 (2 days) */
  period: number;
}

/** What a read may ask for: an implicit board's views, or a configured board's current period. */
export type PeriodQuery = 'all' | 'daily' | 'weekly' | 'monthly' | 'current';

export interface TimeWindow {
  startMs: number;
  endMs: number;
}

/** One sorted set a submission writes. */
export interface BoardPeriod {
  /**
   * Its name in the Redis key and in PostgreSQL: `all`, `daily:2026-11-26`, `weekly:2026-11-23`,
   * `monthly:2026-11`, or `p:20261126T0000Z` (the start of a reset board's period).
   */
  name: string;
  /** How long the sorted set is kept from now, in ms; 0 is forever. */
  ttlMs: number;
  /** When its PostgreSQL rows may be pruned (ms since 1970); null is never. */
  expiresAtMs: number | null;
  /** A reset board's period window, archived when it ends; null otherwise. */
  window: TimeWindow | null;
}

/** `20261126T0000Z`: the start of a period, as its id in keys and URLs. */
export function compactTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

/** The period name of a reset board's period that starts at `startMs`. */
export function resetPeriodName(startMs: number): string {
  return `p:${compactTime(startMs)}`;
}

/** The window of a reset board that contains `nowMs`: from the last reset to the next. */
export function resetWindow(board: Board, nowMs: number): TimeWindow {
  if (!board.schedule) throw new Error('the board has no reset schedule');
  const startMs = board.schedule.previous(nowMs);
  return { startMs, endMs: board.schedule.next(startMs) };
}

/** The sorted sets a submission at `nowMs` writes; the first is the one whose rank it returns. */
export function writePeriods(
  board: Board,
  nowMs: number,
  retention: RetentionConfig,
): BoardPeriod[] {
  if (board.implicit) {
    return [
      { name: 'all', ttlMs: 0, expiresAtMs: null, window: null },
      ...CALENDAR_PERIODS.map((period) => {
        const window = periodWindow(period, nowMs);
        return {
          name: `${period}:${window.id}`,
          ttlMs: periodTtlMs(period, nowMs, retention[period]),
          expiresAtMs: window.endMs + retention[period],
          window: null,
        };
      }),
    ];
  }
  if (!board.schedule) return [{ name: 'all', ttlMs: 0, expiresAtMs: null, window: null }];
  const window = resetWindow(board, nowMs);
  return [
    {
      name: resetPeriodName(window.startMs),
      ttlMs: window.endMs + retention.period - nowMs,
      expiresAtMs: window.endMs + retention.period,
      window,
    },
  ];
}

/** The sorted set a read of `query` at `nowMs` means; a 400 for a view the board does not have. */
export function readPeriod(board: Board, query: PeriodQuery | undefined, nowMs: number): string {
  if (board.implicit) {
    if (query === undefined || query === 'all' || query === 'current') return 'all';
    return `${query}:${periodWindow(query, nowMs).id}`;
  }
  if (query !== undefined && query !== 'current') {
    throw new DomainError(
      400,
      'PERIOD_NOT_ON_BOARD',
      `period ${query} is a view of implicit boards; a configured board has only its current period (period=current)`,
    );
  }
  return board.schedule ? resetPeriodName(resetWindow(board, nowMs).startMs) : 'all';
}

/** Every sorted set of the board that may still exist at `nowMs` (for a delete), current first. */
export function retainedPeriods(board: Board, nowMs: number, retention: RetentionConfig): string[] {
  if (board.implicit) {
    return [
      'all',
      ...CALENDAR_PERIODS.flatMap((period) =>
        retainedWindows(period, nowMs, retention[period]).map((w) => `${period}:${w.id}`),
      ),
    ];
  }
  if (!board.schedule) return ['all'];
  const names: string[] = [];
  let window = resetWindow(board, nowMs);
  // Bounded: a schedule firing every minute with days of retention would otherwise list thousands.
  while (names.length < 64 && (names.length === 0 || window.endMs + retention.period > nowMs)) {
    names.push(resetPeriodName(window.startMs));
    window = resetWindow(board, window.startMs - 1);
  }
  return names;
}
