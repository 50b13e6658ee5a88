import { join } from 'node:path';
import { LuaScript, type RedisClient } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { RetentionConfig } from '../config';
import type { LeaderboardKeys } from './leaderboard-keys';
import { CALENDAR_PERIODS, periodTtlMs, tieBreakAt, type Period } from './periods';
import { decodeScore } from './score-encoding';
import { EVERY_BOARD } from './top-stream';

export type SubmitMode = 'best' | 'increment' | 'replace';

/** One row of a board. */
export interface Entry {
  /** 1-based. */
  rank: number;
  playerId: string;
  /** Display name, null when the player never set one. */
  name: string | null;
  score: number;
}

export interface PlayerStanding {
  rank: number;
  score: number;
  total: number;
  /** Share of the board ranked at or below the player, in percent (100 for the leader). */
  percentile: number;
}

type SubmitResult = [ok: 0 | 1, score: number, rank: number];
type AroundResult = [rank0: number, total: number, start0: number, ...entries: string[]] | null;

const submitScore = LuaScript.fromFile<
  [string, string, string, string],
  (string | number)[],
  SubmitResult
>(join(__dirname, 'submit-score-4.lua'));
const aroundPlayer = LuaScript.fromFile<[string], [string, number], AroundResult>(
  join(__dirname, 'around-player-1.lua'),
);

export interface LeaderboardStoreOptions {
  redis: RedisClient;
  keys: LeaderboardKeys;
  retentionMs: RetentionConfig;
  tieEpochMs: number;
  clock: () => number;
}

/**
 * Redis errors other than a reply (timeouts, closed connection, no offline queue) mean Redis is
 * away: the client gets 503 within the command timeout instead of a hanging request.
 */
async function redisCall<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof DomainError || (error as Error).name === 'ReplyError') throw error;
    throw unavailable('REDIS_UNAVAILABLE', `Redis did not answer: ${(error as Error).message}`);
  }
}

/** The leaderboards in Redis: sorted sets per board and period, one hash of display names. */
export class LeaderboardStore {
  constructor(private readonly options: LeaderboardStoreOptions) {}

  private get redis(): RedisClient {
    return this.options.redis;
  }

  private key(board: string, period: Period): string {
    return this.options.keys.board(board, period, this.options.clock());
  }

  /** Records a score on every period of `board` in one script; returns the all-time standing. */
  async submit(
    board: string,
    playerId: string,
    score: number,
    mode: SubmitMode,
  ): Promise<{ playerId: string; score: number; rank: number }> {
    const now = this.options.clock();
    const periods: Period[] = ['all', ...CALENDAR_PERIODS];
    const keys = periods.map((period) => this.options.keys.board(board, period, now)) as [
      string,
      string,
      string,
      string,
    ];
    const args = [
      mode,
      score,
      playerId,
      this.options.keys.changes,
      board,
      ...periods.map((period) => tieBreakAt(period, now, this.options.tieEpochMs)),
      ...CALENDAR_PERIODS.map((period) =>
        periodTtlMs(period, now, this.options.retentionMs[period]),
      ),
    ];
    const [ok, stored, rank] = await redisCall(() => submitScore.run(this.redis, keys, args));
    if (ok === 0) {
      throw new DomainError(
        422,
        'SCORE_OUT_OF_RANGE',
        `increment would take the score of ${playerId} (${stored}) beyond +-2147483647`,
      );
    }
    return { playerId, score: stored, rank };
  }

  private async names(playerIds: string[]): Promise<Array<string | null>> {
    if (playerIds.length === 0) return [];
    return redisCall(() => this.redis.hmget(this.options.keys.names, ...playerIds));
  }

  /** Rows from ZREVRANGE ... WITHSCORES starting at 0-based `start`, with names. */
  private async entries(flat: string[], start: number): Promise<Entry[]> {
    const ids = flat.filter((_, i) => i % 2 === 0);
    const names = await this.names(ids);
    return ids.map((playerId, i) => ({
      rank: start + i + 1,
      playerId,
      name: names[i] ?? null,
      score: decodeScore(flat[2 * i + 1]),
    }));
  }

  async top(
    board: string,
    period: Period,
    limit: number,
    offset: number,
  ): Promise<{ entries: Entry[]; total: number }> {
    const key = this.key(board, period);
    const [flat, total] = await redisCall(() =>
      Promise.all([
        this.redis.zrevrange(key, offset, offset + limit - 1, 'WITHSCORES'),
        this.redis.zcard(key),
      ]),
    );
    return { entries: await this.entries(flat, offset), total };
  }

  async standing(board: string, playerId: string, period: Period): Promise<PlayerStanding | null> {
    const key = this.key(board, period);
    const [rank0, score, total] = await redisCall(() =>
      Promise.all([
        this.redis.zrevrank(key, playerId),
        this.redis.zscore(key, playerId),
        this.redis.zcard(key),
      ]),
    );
    if (rank0 === null || score === null) return null;
    const rank = rank0 + 1;
    return {
      rank,
      score: decodeScore(score),
      total,
      percentile: Math.round((10_000 * (total - rank + 1)) / total) / 100,
    };
  }

  /** The players around `playerId`, filled from the other side at the edges; null if absent. */
  async around(
    board: string,
    playerId: string,
    period: Period,
    radius: number,
  ): Promise<{ rank: number; total: number; entries: Entry[] } | null> {
    const result = await redisCall(() =>
      aroundPlayer.run(this.redis, [this.key(board, period)], [playerId, radius]),
    );
    if (!result) return null;
    const [rank0, total, start0, ...flat] = result;
    return { rank: rank0 + 1, total, entries: await this.entries(flat, start0) };
  }

  /** Standings of a list of players (a friends board), best first, and the ids not on the board. */
  async ranks(
    board: string,
    playerIds: string[],
    period: Period,
  ): Promise<{ entries: Entry[]; unknown: string[] }> {
    const key = this.key(board, period);
    const ids = [...new Set(playerIds)];
    const found = await redisCall(() =>
      Promise.all(
        ids.map((id) => Promise.all([this.redis.zrevrank(key, id), this.redis.zscore(key, id)])),
      ),
    );
    const known = ids
      .map((playerId, i) => ({ playerId, rank0: found[i][0], score: found[i][1] }))
      .filter((row): row is { playerId: string; rank0: number; score: string } => {
        return row.rank0 !== null && row.score !== null;
      })
      .sort((a, b) => a.rank0 - b.rank0);
    const names = await this.names(known.map((row) => row.playerId));
    const knownIds = new Set(known.map((row) => row.playerId));
    return {
      entries: known.map((row, i) => ({
        rank: row.rank0 + 1,
        playerId: row.playerId,
        name: names[i] ?? null,
        score: decodeScore(row.score),
      })),
      unknown: ids.filter((id) => !knownIds.has(id)),
    };
  }

  /** Sets the display name shown on every board, and lets open streams show it. */
  async setName(playerId: string, name: string): Promise<void> {
    await redisCall(async () => {
      await this.redis.hset(this.options.keys.names, playerId, name);
      await this.redis.publish(this.options.keys.changes, EVERY_BOARD);
    });
  }

  /** Removes the player from the all-time board and every retained period; false if absent. */
  async remove(board: string, playerId: string): Promise<boolean> {
    const keys = this.options.keys.retainedBoards(
      board,
      this.options.clock(),
      this.options.retentionMs,
    );
    return redisCall(async () => {
      // One slot (hash tag), so a transaction works on Cluster too.
      const transaction = this.redis.multi();
      for (const key of keys) transaction.zrem(key, playerId);
      const results = (await transaction.exec()) ?? [];
      const removed = results.reduce((sum, [error, count]) => {
        if (error) throw error;
        return sum + Number(count);
      }, 0);
      if (removed > 0) await this.redis.publish(this.options.keys.changes, board);
      return removed > 0;
    });
  }
}
