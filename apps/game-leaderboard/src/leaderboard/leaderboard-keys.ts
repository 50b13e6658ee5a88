import { createKeyBuilder, type KeyBuilder } from '@redis-patterns/redis-core';
import { periodWindow, retainedWindows, type CalendarPeriod, type Period } from './periods';
import type { RetentionConfig } from '../config';

/**
 * Every Redis key and channel of the service. A board's sorted sets share the hash tag
 * `{<board>}`, so one script may write all of its periods on Redis Cluster.
 */
export interface LeaderboardKeys {
  /** The board of `period` that contains `nowMs`. */
  board(board: string, period: Period, nowMs: number): string;
  /** Every sorted set of `board` that may still exist at `nowMs`, all-time first. */
  retainedBoards(board: string, nowMs: number, retentionMs: RetentionConfig): string[];
  /** Hash of player id -> display name, shared by every board. */
  names: string;
  /** Pub/sub channel announcing that a board's top 10 may have changed (message: board name). */
  changes: string;
}

export function leaderboardKeys(prefix: string): LeaderboardKeys {
  const keys: KeyBuilder = createKeyBuilder(prefix);
  const periodKey = (board: string, period: CalendarPeriod, id: string) =>
    keys.tagged(board, period, id);
  return {
    board: (board, period, nowMs) =>
      period === 'all'
        ? keys.tagged(board, 'all')
        : periodKey(board, period, periodWindow(period, nowMs).id),
    retainedBoards: (board, nowMs, retentionMs) => [
      keys.tagged(board, 'all'),
      ...(['daily', 'weekly', 'monthly'] as const).flatMap((period) =>
        retainedWindows(period, nowMs, retentionMs[period]).map((w) =>
          periodKey(board, period, w.id),
        ),
      ),
    ],
    names: keys.key('names'),
    changes: keys.key('changes'),
  };
}
