import { createKeyBuilder, type KeyBuilder } from '@redis-patterns/redis-core';

/**
 * Every Redis key and channel of the service. A board's keys share the hash tag `{<board>}`, so
 * one script may touch all of them on Redis Cluster.
 */
export interface LeaderboardKeys {
  /**
   * The board's meta hash: `epoch` (which rebuild of the index this is), `cv` and `cfg` (its
   * configuration), `seq` (the arrival counter), `scored` (1 once it took a score). Its absence
   * means the index is missing (Redis restarted empty) and must be rebuilt from PostgreSQL.
   */
  meta(board: string): string;
  /** The lock of the replica rebuilding the board's index. */
  rebuildLock(board: string): string;
  /** The sorted set of one period of the board (`all`, `daily:2026-11-26`, `p:20261126T0000Z`). */
  index(board: string, period: string): string;
  /** The player id -> arrival hash next to the sorted set `indexKey`. */
  arrivals(indexKey: string): string;
  /** Hash of player id -> display name, shared by every board. */
  names: string;
  /** Pub/sub channel announcing that a board's top 10 may have changed (message: board name). */
  changes: string;
  /** SCAN MATCH pattern of every key of the service (tests count keys with it). */
  everyKey: string;
}

export function leaderboardKeys(prefix: string): LeaderboardKeys {
  const keys: KeyBuilder = createKeyBuilder(prefix);
  return {
    meta: (board) => keys.tagged(board, 'meta'),
    rebuildLock: (board) => keys.tagged(board, 'rebuild'),
    index: (board, period) => keys.tagged(board, ...period.split(':')),
    arrivals: (indexKey) => `${indexKey}:m`,
    names: keys.key('names'),
    changes: keys.key('changes'),
    everyKey: `${keys.prefix}:*`,
  };
}
