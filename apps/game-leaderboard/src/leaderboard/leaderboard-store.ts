import type { Pool } from 'pg';
import { writeAcknowledged, type RedisClient } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import {
  boardFromCfg,
  configuredBoard,
  hasSubscore,
  IMPLICIT_BOARD,
  type Board,
  type BoardConfig,
  type Operator,
} from './board-config';
import {
  readPeriod,
  retainedPeriods,
  writePeriods,
  type PeriodQuery,
  type RetentionConfig,
} from './board-periods';
import type { IndexRebuilder } from './index-rebuild';
import type { LeaderboardKeys } from './leaderboard-keys';
import {
  aroundPlayer,
  boardPage,
  boardRanks,
  configureBoard,
  deletePlayer,
  submitScore,
  type Status,
} from './leaderboard-scripts';
import { redisCall } from './redis-call';
import { memberPrefixLength, scoreOf, subscoreOfMember } from './score-encoding';
import type { ScoreJournal, ScoreRow } from './score-journal';
import { EVERY_BOARD } from './top-stream';

/** The per-request modes of an implicit board (`replace` is the operator `set`). */
export type SubmitMode = 'best' | 'increment' | 'replace';

const MODE_OPERATORS: Record<SubmitMode, Operator> = {
  best: 'best',
  increment: 'increment',
  replace: 'set',
};

/** One row of a board. */
export interface Entry {
  /** 1-based. */
  rank: number;
  playerId: string;
  /** Display name, null when the player never set one. */
  name: string | null;
  score: number;
  /** Only on a board configured with a subscore. */
  subscore?: number;
}

export interface PlayerStanding {
  rank: number;
  score: number;
  /** Only on a board configured with a subscore. */
  subscore?: number;
  total: number;
  /** Share of the board ranked at or below the player, in percent (100 for the leader). */
  percentile: number;
}

/** A board's configuration as `GET /leaderboards/:board` shows it. */
export interface BoardView extends Omit<BoardConfig, 'subscore' | 'webhook'> {
  board: string;
  subscore: NonNullable<BoardConfig['subscore']> | null;
  webhook: NonNullable<BoardConfig['webhook']> | null;
  /** Never configured: desc, best, a per-request mode, all-time/daily/weekly/monthly views. */
  implicit: boolean;
  /** Took a score: the configuration can no longer change. */
  scored: boolean;
}

export interface LeaderboardStoreOptions {
  redis: RedisClient;
  pg: Pool;
  keys: LeaderboardKeys;
  retention: RetentionConfig;
  clock: () => number;
  /** null: scores are not recorded in PostgreSQL (the benchmark's Redis-only baseline). */
  journal: ScoreJournal | null;
  rebuilder: IndexRebuilder;
}

/** What one attempt against the index found. */
type Attempt<T> = { status: 'ok'; value: T } | { status: 'absent' } | { status: 'config' };
const ABSENT = { status: 'absent' } as const;
const STALE_CONFIG = { status: 'config' } as const;
const ok = <T>(value: T): Attempt<T> => ({ status: 'ok', value });
const EMPTY = Symbol('empty board');

function attemptOf<T>(status: Status, value: () => T): Attempt<T> {
  if (status === 0) return ABSENT;
  if (status === -1) return STALE_CONFIG;
  return ok(value());
}

const MAX_CACHED_BOARDS = 10_000;

/**
 * The leaderboards: PostgreSQL holds every acknowledged score (ScoreJournal), Redis the rank
 * index (a sorted set and an arrival hash per board and period, a meta hash per board). Every
 * script checks the board's meta hash, so a missing index is rebuilt (IndexRebuilder) instead
 * of being read as an empty board, and a stale cached configuration is reloaded.
 */
export class LeaderboardStore {
  private readonly boards = new Map<string, Board>();

  constructor(private readonly options: LeaderboardStoreOptions) {}

  private get redis(): RedisClient {
    return this.options.redis;
  }

  private boardOf(name: string): Board {
    return this.boards.get(name) ?? IMPLICIT_BOARD;
  }

  private remember(name: string, board: Board): void {
    if (this.boards.size >= MAX_CACHED_BOARDS && !this.boards.has(name)) this.boards.clear();
    this.boards.set(name, board);
  }

  private async reloadBoard(name: string): Promise<void> {
    const cfg = await redisCall(() => this.redis.hget(this.options.keys.meta(name), 'cfg'));
    this.remember(name, boardFromCfg(cfg));
  }

  /**
   * Runs `attempt` against the board's index: reloads the configuration when it changed, and
   * rebuilds the index (or finds the board empty) when it is missing. `create`: a write, which
   * builds the index of a board PostgreSQL does not know yet.
   */
  private async withIndex<T>(
    name: string,
    create: boolean,
    attempt: (board: Board) => Promise<Attempt<T>>,
  ): Promise<T | typeof EMPTY> {
    for (let tries = 0; tries < 4; tries += 1) {
      const result = await attempt(this.boardOf(name));
      if (result.status === 'ok') return result.value;
      if (result.status === 'absent') {
        if ((await this.options.rebuilder.ensure(name, create)) === 'empty') return EMPTY;
      }
      await this.reloadBoard(name);
    }
    throw unavailable('BOARD_REBUILDING', `board ${name} is changing; retry shortly`);
  }

  /**
   * Records the rows in PostgreSQL, and acknowledges the write only while the index it went to
   * still serves the board: one rebuilt meanwhile was read from PostgreSQL maybe before this
   * write committed.
   */
  private async afterWrite(name: string, epoch: number, rows: ScoreRow[]): Promise<void> {
    if (!this.options.journal) return;
    const outcome = await this.options.journal.write(name, rows);
    if (outcome.closedPeriods.length > 0) {
      throw new DomainError(
        409,
        'PERIOD_ENDED',
        `the period of board ${name} this replica wrote to has ended and is archived; retry`,
      );
    }
    if (outcome.epochAfterCommit !== epoch) {
      throw unavailable(
        'BOARD_REBUILDING',
        `board ${name} was rebuilt from PostgreSQL while this write was in flight; its outcome is unknown, retry`,
      );
    }
  }

  /** The board's index epoch in Redis (null: no index), for the journal's check. */
  async epochOf(name: string): Promise<number | null> {
    const epoch = await redisCall(() =>
      this.options.redis.hget(this.options.keys.meta(name), 'epoch'),
    );
    return epoch === null ? null : Number(epoch);
  }

  /**
   * Records a score with the board's operator (an implicit board: `mode`), once a Redis replica
   * holds it (on Sentinel and Cluster) and PostgreSQL has committed it; returns the standing on
   * the board's main period (all-time, or a configured board's current period).
   */
  async submit(
    name: string,
    playerId: string,
    value: number,
    mode: SubmitMode | undefined,
    subscore?: number,
  ): Promise<{
    playerId: string;
    score: number;
    subscore?: number;
    rank: number;
    operator: Operator;
  }> {
    const { keys } = this.options;
    const written = await this.withIndex(name, true, async (board) => {
      if (subscore !== undefined && !hasSubscore(board)) {
        // Refused only against the configuration Redis holds now, not a stale cached one.
        const [epoch, cv] = await redisCall(() => this.redis.hmget(keys.meta(name), 'epoch', 'cv'));
        // A board PostgreSQL does not know is implicit: refused without creating it.
        if (epoch === null && (await this.options.rebuilder.ensure(name, false)) === 'ready') {
          return STALE_CONFIG;
        }
        if (epoch !== null && cv !== board.cv) return STALE_CONFIG;
        throw new DomainError(
          400,
          'SUBSCORE_NOT_ON_BOARD',
          `body/subscore: board ${name} is not configured with a subscore; leave it out`,
        );
      }
      let operator: Operator;
      if (board.implicit) operator = MODE_OPERATORS[mode ?? 'best'];
      else if (mode === undefined || MODE_OPERATORS[mode] === board.config.operator)
        operator = board.config.operator;
      else {
        throw new DomainError(
          400,
          'OPERATOR_FIXED',
          `board ${name} is configured with operator ${board.config.operator}; leave out mode`,
        );
      }
      const periods = writePeriods(board, this.options.clock(), this.options.retention);
      const scriptKeys = [
        keys.meta(name),
        ...periods.flatMap((period) => {
          const index = keys.index(name, period.name);
          return [index, keys.arrivals(index)];
        }),
      ];
      const reply = await redisCall(() =>
        submitScore(scriptKeys.length).runAcknowledged(this.redis, scriptKeys, [
          board.cv,
          operator,
          value,
          board.config.sort,
          playerId,
          keys.changes,
          name,
          board.config.subscore ?? '',
          hasSubscore(board) ? (subscore ?? 0) : '',
          ...periods.map((period) => period.ttlMs),
        ]),
      );
      if (reply[0] === 2) {
        const current = reply[1] === false ? 'none' : reply[1];
        throw new DomainError(
          422,
          'SCORE_OUT_OF_RANGE',
          `${operator} would take the score of ${playerId} (now ${current}) beyond ±(2^53 − 1)`,
        );
      }
      return attemptOf(reply[0], () => ({ reply, periods, operator, board }));
    });
    if (written === EMPTY) throw new Error('a write found no board to create');
    const { reply, periods, operator, board } = written;
    const [, epoch, , rank] = reply as [Status, number, number, number];
    // version = the arrival of the state the set holds: the submission's own counter when it
    // changed the set, the earlier one that reached it when it did not (a worse best). So a
    // submission that changed nothing re-records that state, which the journal skips when
    // PostgreSQL already holds it (most attempts are no personal best), and records it when
    // the write that reached it was never committed: the acknowledged state is always there.
    const rows: ScoreRow[] = periods.map((period, k) => ({
      board: name,
      period: period.name,
      player: playerId,
      score: Number(reply[4 + 3 * k]),
      arrival: Number(reply[5 + 3 * k]),
      subscore: Number(reply[6 + 3 * k]),
      epoch,
      version: Number(reply[5 + 3 * k]),
      deleted: false,
      expiresAtMs: period.expiresAtMs,
      window: period.window,
    }));
    await this.afterWrite(name, epoch, rows);
    return {
      playerId,
      score: rows[0].score,
      ...(hasSubscore(board) ? { subscore: rows[0].subscore } : {}),
      rank,
      operator,
    };
  }

  private async names(playerIds: string[]): Promise<Array<string | null>> {
    if (playerIds.length === 0) return [];
    return redisCall(() => this.redis.hmget(this.options.keys.names, ...playerIds));
  }

  /** Rows from a flat member/score list starting at 0-based `start`, with names. */
  private async entries(board: Board, flat: string[], start: number): Promise<Entry[]> {
    const members = flat.filter((_, i) => i % 2 === 0);
    const prefix = memberPrefixLength(hasSubscore(board));
    const ids = members.map((member) => member.slice(prefix));
    const names = await this.names(ids);
    return ids.map((playerId, i) => ({
      rank: start + i + 1,
      playerId,
      name: names[i] ?? null,
      score: scoreOf(flat[2 * i + 1], board.config.sort),
      ...subscoreOf(board, members[i]),
    }));
  }

  private indexKeys(name: string, board: Board, period: PeriodQuery | undefined) {
    const { keys } = this.options;
    const index = keys.index(name, readPeriod(board, period, this.options.clock()));
    return { meta: keys.meta(name), index, arrivals: keys.arrivals(index) };
  }

  async top(
    name: string,
    period: PeriodQuery | undefined,
    limit: number,
    offset: number,
  ): Promise<{ entries: Entry[]; total: number }> {
    const page = await this.withIndex(name, false, async (board) => {
      const { meta, index } = this.indexKeys(name, board, period);
      const reply = await redisCall(() =>
        boardPage.run(this.redis, [meta, index], [board.cv, offset, offset + limit - 1]),
      );
      return attemptOf(reply[0], () => ({
        board,
        total: reply[1]!,
        flat: reply.slice(2) as string[],
      }));
    });
    if (page === EMPTY) return { entries: [], total: 0 };
    return { entries: await this.entries(page.board, page.flat, offset), total: page.total };
  }

  /** Ranks (0-based, -1 when absent) and scores of `playerIds`, and the board's size. */
  private async rankOf(name: string, playerIds: string[], period: PeriodQuery | undefined) {
    return this.withIndex(name, false, async (board) => {
      const { meta, index, arrivals } = this.indexKeys(name, board, period);
      const reply = await redisCall(() =>
        boardRanks.run(this.redis, [meta, index, arrivals], [board.cv, ...playerIds]),
      );
      return attemptOf(reply[0], () => ({
        board,
        total: reply[1]!,
        found: playerIds.map((playerId, i) => ({
          playerId,
          rank0: Number(reply[2 + 3 * i]),
          stored: reply[3 + 3 * i] as string | false,
          member: reply[4 + 3 * i] as string | false,
        })),
      }));
    });
  }

  async standing(
    name: string,
    playerId: string,
    period: PeriodQuery | undefined,
  ): Promise<PlayerStanding | null> {
    const result = await this.rankOf(name, [playerId], period);
    if (result === EMPTY) return null;
    const [{ rank0, stored, member }] = result.found;
    if (rank0 < 0 || stored === false || member === false) return null;
    const rank = rank0 + 1;
    const total = result.total;
    return {
      rank,
      score: scoreOf(stored, result.board.config.sort),
      ...subscoreOf(result.board, member),
      total,
      percentile: Math.round((10_000 * (total - rank + 1)) / total) / 100,
    };
  }

  /** The players around `playerId`, filled from the other side at the edges; null if absent. */
  async around(
    name: string,
    playerId: string,
    period: PeriodQuery | undefined,
    radius: number,
  ): Promise<{ rank: number; total: number; entries: Entry[] } | null> {
    const result = await this.withIndex(name, false, async (board) => {
      const { meta, index, arrivals } = this.indexKeys(name, board, period);
      const reply = await redisCall(() =>
        aroundPlayer.run(this.redis, [meta, index, arrivals], [board.cv, playerId, radius]),
      );
      return attemptOf(reply[0], () => ({ board, reply }));
    });
    if (result === EMPTY || result.reply[0] === 2) return null;
    const [, rank0, total, start0, ...flat] = result.reply as [
      Status,
      number,
      number,
      number,
      ...string[],
    ];
    return { rank: rank0 + 1, total, entries: await this.entries(result.board, flat, start0) };
  }

  /** Standings of a list of players (a friends board), best first, and the ids not on the board. */
  async ranks(
    name: string,
    playerIds: string[],
    period: PeriodQuery | undefined,
  ): Promise<{ entries: Entry[]; unknown: string[] }> {
    const ids = [...new Set(playerIds)];
    const result = await this.rankOf(name, ids, period);
    if (result === EMPTY) return { entries: [], unknown: ids };
    const known = result.found
      .filter((row) => row.rank0 >= 0 && row.stored !== false)
      .sort((a, b) => a.rank0 - b.rank0);
    const names = await this.names(known.map((row) => row.playerId));
    const knownIds = new Set(known.map((row) => row.playerId));
    return {
      entries: known.map((row, i) => ({
        rank: row.rank0 + 1,
        playerId: row.playerId,
        name: names[i] ?? null,
        score: scoreOf(row.stored as string, result.board.config.sort),
        ...subscoreOf(result.board, row.member as string),
      })),
      unknown: ids.filter((id) => !knownIds.has(id)),
    };
  }

  /**
   * Sets the display name shown on every board, acknowledged once a Redis replica holds it and
   * PostgreSQL has it (a rebuild restores names Redis lost), and lets open streams show it.
   */
  async setName(playerId: string, name: string): Promise<void> {
    await redisCall(() =>
      writeAcknowledged(this.redis, (pipeline) =>
        pipeline
          .hset(this.options.keys.names, playerId, name)
          .publish(this.options.keys.changes, EVERY_BOARD),
      ),
    );
    await this.options.pg.query(
      `INSERT INTO lb_names (player, name) VALUES ($1, $2)
       ON CONFLICT (player) DO UPDATE SET name = excluded.name, updated_at = now()`,
      [playerId, name],
    );
  }

  /**
   * Removes the player from every sorted set of the board that may still hold them, in one
   * script, acknowledged once replicated and recorded (as tombstones) in PostgreSQL; false if
   * the player was on none.
   */
  async remove(name: string, playerId: string): Promise<boolean> {
    const { keys } = this.options;
    const result = await this.withIndex(name, false, async (board) => {
      const periods = retainedPeriods(board, this.options.clock(), this.options.retention);
      const scriptKeys = [
        keys.meta(name),
        ...periods.flatMap((period) => {
          const index = keys.index(name, period);
          return [index, keys.arrivals(index)];
        }),
      ];
      const reply = await redisCall(() =>
        deletePlayer(scriptKeys.length).runAcknowledged(this.redis, scriptKeys, [
          board.cv,
          playerId,
          keys.changes,
          name,
        ]),
      );
      return attemptOf(reply[0], () => ({ reply, periods }));
    });
    if (result === EMPTY) return false;
    const [, epoch, seq, ...removed] = result.reply as [Status, number, number, ...number[]];
    const rows: ScoreRow[] = result.periods
      .filter((_, k) => removed[k] === 1)
      .map((period) => ({
        board: name,
        period,
        player: playerId,
        score: 0,
        arrival: seq,
        subscore: 0,
        epoch,
        version: seq,
        deleted: true,
        expiresAtMs: null,
        window: null,
      }));
    if (rows.length === 0) return false;
    await this.afterWrite(name, epoch, rows);
    return true;
  }

  /**
   * Creates or confirms a board's configuration: 409 `BOARD_HAS_SCORES` when the board already
   * took scores under another one. The configuration is the same in Redis and PostgreSQL when
   * this returns.
   */
  async configure(name: string, config: BoardConfig): Promise<BoardView> {
    const target = configuredBoard(config);
    const meta = this.options.keys.meta(name);
    for (let tries = 0; tries < 3; tries += 1) {
      const reply = await this.withIndex(name, true, async () => {
        const answer = await redisCall(() =>
          configureBoard.runAcknowledged(this.redis, [meta], [target.cv, target.cfg]),
        );
        return attemptOf(answer[0], () => answer);
      });
      if (reply === EMPTY) throw new Error('a write found no board to create');
      if (reply[0] === 2) {
        const current = boardFromCfg(reply[1]);
        throw new DomainError(
          409,
          'BOARD_HAS_SCORES',
          `board ${name} has scores under ${current.implicit ? 'the implicit configuration (desc, best)' : `sort ${current.config.sort}, operator ${current.config.operator}, reset ${current.config.reset ?? 'none'}`}; its configuration cannot change`,
        );
      }
      await this.options.pg.query(
        'UPDATE lb_boards SET config = $2::jsonb, updated_at = now() WHERE board = $1',
        [name, target.cfg],
      );
      // A rebuild between the two writes would have loaded the previous configuration.
      const cv = await redisCall(() => this.redis.hget(meta, 'cv'));
      if (cv === target.cv) {
        this.remember(name, target);
        return viewOf(name, target, false);
      }
    }
    throw unavailable('BOARD_REBUILDING', `board ${name} is changing; retry shortly`);
  }

  /** The board's configuration; null for a board that has neither scores nor a configuration. */
  async describe(name: string): Promise<BoardView | null> {
    const meta = this.options.keys.meta(name);
    const found = await this.withIndex(name, false, async () => {
      const [epoch, cfg, scored] = await redisCall(() =>
        this.redis.hmget(meta, 'epoch', 'cfg', 'scored'),
      );
      if (epoch === null) return ABSENT;
      return ok({ board: boardFromCfg(cfg), scored: scored === '1' });
    });
    if (found === EMPTY) return null;
    this.remember(name, found.board);
    return viewOf(name, found.board, found.scored);
  }
}

function viewOf(name: string, board: Board, scored: boolean): BoardView {
  return {
    board: name,
    implicit: board.implicit,
    scored,
    ...board.config,
    subscore: board.config.subscore ?? null,
    webhook: board.config.webhook ?? null,
  };
}

/** `{ subscore }` of a member on a subscore board, `{}` elsewhere. */
function subscoreOf(board: Board, member: string): { subscore?: number } {
  const order = board.config.subscore;
  return order ? { subscore: subscoreOfMember(member, order) } : {};
}
