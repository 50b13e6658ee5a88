import type { FastifyBaseLogger } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Pool, QueryConfig, QueryResultRow } from 'pg';
import type { RedisClient } from '@redis-patterns/redis-core';
import { unavailable } from '@redis-patterns/service-kit';
import { redisCall } from './redis-call';
import { configuredBoard, IMPLICIT_BOARD, type BoardConfig } from './board-config';
import { writePeriods, type RetentionConfig } from './board-periods';
import type { LeaderboardKeys } from './leaderboard-keys';
import { activateIndex, loadIndex, releaseRebuildLock } from './leaderboard-scripts';
import { arrivalMember, arrivalValue, storedScore, subscoreMember } from './score-encoding';

export interface IndexRebuilderOptions {
  redis: RedisClient;
  pg: Pool;
  keys: LeaderboardKeys;
  retention: RetentionConfig;
  clock: () => number;
  /** Where rebuilds and failures are logged (the app's pino logger). */
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  /** How long a request waits for a rebuild (its own or another replica's) before a 503. @default 1000 */
  waitMs?: number;
  /**
   * Rebuild lock lifetime, renewed by every batch and, while PostgreSQL reads, every third of
   * it; a rebuilder that dies frees it then. @default 15000
   */
  lockTtlMs?: number;
  /** Rows read from PostgreSQL per query. @default 5000 */
  pageSize?: number;
  /** Entries written to Redis per script call. @default 1000 */
  batchSize?: number;
  /** Called after each completed rebuild. */
  onRebuilt?: (board: string, entries: number, ms: number) => void;
}

const REBUILD_STATEMENT_TIMEOUT_MS = 300_000;

/** Another replica took over the rebuild (this one was too slow, or Redis lost the lock). */
function lostLock(board: string) {
  return unavailable(
    'BOARD_REBUILDING',
    `board ${board} is being rebuilt by another replica after this one lost the rebuild lock; retry shortly`,
  );
}

/** What `ensure` found: the index is there now, or the board has nothing anywhere. */
export type IndexState = 'ready' | 'empty';

interface Row {
  period: string;
  player: string;
  score: string;
  arrival: string;
  subscore: string;
  expires_at: Date | null;
  name: string | null;
}

/**
 * Rebuilds a board's Redis index from PostgreSQL when its meta hash is missing (Redis restarted
 * empty, or the keys were lost). One replica rebuilds, holding the board's rebuild lock; the
 * others wait for the meta hash. Each rebuild takes a new epoch from PostgreSQL first, so a
 * write made under the lost index can neither overwrite a newer row nor be acknowledged.
 */
export class IndexRebuilder {
  private readonly running = new Map<string, Promise<void>>();
  private readonly waitMs: number;
  private readonly lockTtlMs: number;

  constructor(private readonly options: IndexRebuilderOptions) {
    this.waitMs = options.waitMs ?? 1000;
    this.lockTtlMs = options.lockTtlMs ?? 15_000;
  }

  /**
   * Makes sure the board's index exists. `create`: build it even for a board PostgreSQL does
   * not know (a first write); otherwise such a board is `empty`. Throws a 503
   * `BOARD_REBUILDING` when the rebuild takes longer than the wait; it goes on meanwhile.
   */
  async ensure(board: string, create: boolean): Promise<IndexState> {
    if (!create) {
      const known = await this.options.pg.query('SELECT 1 FROM lb_boards WHERE board = $1', [
        board,
      ]);
      if (known.rowCount === 0) return 'empty';
    }
    const { redis, keys } = this.options;
    const lock = keys.rebuildLock(board);
    let job = this.running.get(board);
    if (!job) {
      const token = randomUUID();
      const locked = await redisCall(() => redis.set(lock, token, 'PX', this.lockTtlMs, 'NX'));
      if (locked) {
        if ((await redisCall(() => redis.exists(keys.meta(board)))) === 1) {
          // Another replica finished between our read and the lock: nothing to rebuild.
          await redisCall(() => releaseRebuildLock.run(redis, [lock], [token]));
          return 'ready';
        }
        job = this.rebuild(board, token)
          .catch(async (error: unknown) => {
            this.options.log.warn({ err: error, board }, 'index rebuild failed');
            // Free the lock at once, so the next request starts a new rebuild.
            await releaseRebuildLock.run(redis, [lock], [token]).catch(() => {});
            throw error;
          })
          .finally(() => this.running.delete(board));
        // Awaited below by this request; a request that gave up waiting must not leave it unhandled.
        job.catch(() => {});
        this.running.set(board, job);
      }
    }
    const deadline = Date.now() + this.waitMs;
    if (job) {
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        // Its failure as it is: Redis errors are DomainErrors (503) already, and the error
        // handler answers a PostgreSQL outage with 503 DATABASE_UNAVAILABLE.
        job.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), this.waitMs);
        }),
      ]).finally(() => clearTimeout(timer));
      if (finished) return 'ready';
    } else {
      while (Date.now() < deadline) {
        if ((await redisCall(() => redis.exists(keys.meta(board)))) === 1) return 'ready';
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    throw unavailable(
      'BOARD_REBUILDING',
      `board ${board} is being rebuilt from PostgreSQL after its Redis keys were lost; retry shortly`,
    );
  }

  /**
   * Renews the rebuild lock every third of its lifetime until `stop()`; `lost()` turns true once
   * the lock is no longer this rebuilder's. An empty load-index batch writes nothing and renews.
   */
  private renewLock(lock: string, index: string, token: string) {
    const { redis, keys } = this.options;
    const renewalKeys: [string, string, string] = [lock, index, keys.arrivals(index)];
    let lost = false;
    const timer = setInterval(() => {
      redisCall(() => loadIndex.run(redis, renewalKeys, [token, 0, 0, this.lockTtlMs]))
        .then((renewed) => {
          if (renewed !== 1) lost = true;
        })
        .catch(() => {});
    }, this.lockTtlMs / 3);
    timer.unref();
    return { lost: () => lost, stop: () => clearInterval(timer) };
  }

  private async rebuild(board: string, token: string): Promise<void> {
    const { redis, pg, keys, clock } = this.options;
    const started = Date.now();
    const now = clock();
    const claimed = await pg.query<{ epoch: string; config: BoardConfig | null }>(
      `INSERT INTO lb_boards (board, epoch) VALUES ($1, 1)
       ON CONFLICT (board) DO UPDATE SET epoch = lb_boards.epoch + 1, updated_at = now()
       RETURNING epoch, config`,
      [board],
    );
    const { epoch, config } = claimed.rows[0];
    const settings = config ? configuredBoard(config) : IMPLICIT_BOARD;
    const lock = keys.rebuildLock(board);
    const pageSize = this.options.pageSize ?? 5000;
    const batchSize = this.options.batchSize ?? 1000;
    const loadedPeriods = new Set<string>();
    let entries = 0;

    const write = async (period: string, rows: Row[]): Promise<void> => {
      const index = keys.index(board, period);
      const expiresAt = rows[0]?.expires_at ?? null;
      const ttl = expiresAt ? Math.max(1, expiresAt.getTime() - now) : 0;
      const batches: Row[][] = [];
      for (let i = 0; i < rows.length; i += batchSize) batches.push(rows.slice(i, i + batchSize));
      if (batches.length === 0) batches.push([]);
      for (const [i, batch] of batches.entries()) {
        const first = i === 0 && !loadedPeriods.has(period);
        const args: (string | number)[] = [token, first ? 1 : 0, ttl, this.lockTtlMs];
        const subOrder = settings.config.subscore ?? null;
        for (const row of batch) {
          const arrival = Number(row.arrival);
          const subscore = Number(row.subscore);
          args.push(
            String(storedScore(Number(row.score), settings.config.sort)),
            subOrder
              ? subscoreMember(subscore, subOrder, arrival, row.player)
              : arrivalMember(arrival, row.player),
            row.player,
            arrivalValue(arrival, subscore, subOrder),
          );
        }
        const written = await redisCall(() =>
          loadIndex.run(redis, [lock, index, keys.arrivals(index)], args),
        );
        if (written !== 1) throw lostLock(board);
      }
      loadedPeriods.add(period);
    };

    const client = await pg.connect();
    // The lock is renewed while PostgreSQL sorts and reads, not only by the writes: the first
    // FETCH of a 10^7 board sorts for longer than the lock lives, and a rebuild that lost its
    // lock to that wait would start again, sort again and never finish.
    const renewal = this.renewLock(
      lock,
      keys.index(board, writePeriods(settings, now, this.options.retention)[0].name),
      token,
    );
    // The pool's client-side timeout (its statement timeout + 500 ms) would cut the sort behind
    // the first FETCH of a large board, and every retry with it: the rebuild's own limit applies.
    const query = <R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]) =>
      client.query<R>({
        text,
        values,
        query_timeout: REBUILD_STATEMENT_TIMEOUT_MS + 500,
      } as QueryConfig);
    let seq = 0;
    let scored = false;
    try {
      await query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // Sorting a board of millions of rows outlasts a request's statement timeout.
      await query(`SET LOCAL statement_timeout = ${REBUILD_STATEMENT_TIMEOUT_MS}`);
      const totals = await query<{ seq: string | null; rows: string }>(
        'SELECT max(version) AS seq, count(*) AS rows FROM lb_scores WHERE board = $1',
        [board],
      );
      seq = Number(totals.rows[0].seq ?? 0);
      scored = Number(totals.rows[0].rows) > 0;
      // One cursor, one scan: rows grouped by period and in score order, which a skiplist
      // inserts along a path that stays in cache (keyset pages would re-sort every page).
      await query(
        `DECLARE rebuild NO SCROLL CURSOR FOR
         SELECT s.period, s.player, s.score, s.arrival, s.subscore, s.expires_at, n.name
         FROM lb_scores s LEFT JOIN lb_names n ON n.player = s.player
         WHERE s.board = $1 AND NOT s.deleted AND (s.expires_at IS NULL OR s.expires_at > $2)
         ORDER BY s.period, s.score`,
        [board, new Date(now).toISOString()],
      );
      for (;;) {
        const page = await query<Row>(`FETCH ${pageSize} FROM rebuild`);
        if (renewal.lost()) throw lostLock(board);
        if (page.rows.length === 0) break;
        const byPeriod = new Map<string, Row[]>();
        for (const row of page.rows) {
          const list = byPeriod.get(row.period) ?? [];
          list.push(row);
          byPeriod.set(row.period, list);
        }
        const named = page.rows.filter((row) => row.name !== null);
        await Promise.all([
          ...[...byPeriod].map(([period, rows]) => write(period, rows)),
          // Only names Redis lost: one set since is newer than PostgreSQL's.
          ...named.map((row) => redisCall(() => redis.hsetnx(keys.names, row.player, row.name!))),
        ]);
        entries += page.rows.length;
        if (page.rows.length < pageSize) break;
      }
      await query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      renewal.stop();
      client.release();
    }
    // The current sets may hold writes PostgreSQL never acknowledged: empty those without rows.
    for (const period of writePeriods(settings, now, this.options.retention)) {
      if (!loadedPeriods.has(period.name)) await write(period.name, []);
    }
    const activated = await redisCall(() =>
      activateIndex.runAcknowledged(
        redis,
        [lock, keys.meta(board)],
        [token, epoch, settings.cv, settings.cfg, seq, scored ? 1 : 0],
      ),
    );
    if (activated !== 1) throw lostLock(board);
    const ms = Date.now() - started;
    this.options.log.info({ board, entries, ms, epoch }, 'board index rebuilt from PostgreSQL');
    this.options.onRebuilt?.(board, entries, ms);
  }
}
