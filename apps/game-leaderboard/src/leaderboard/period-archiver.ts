import type { FastifyBaseLogger } from 'fastify';
import type { Pool, PoolClient } from 'pg';
import type { BoardConfig } from './board-config';

export interface PeriodArchiverOptions {
  pg: Pool;
  clock: () => number;
  log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  /** Name of this replica in `lb_periods.archived_by`. */
  replica: string;
  /** How often a replica looks for periods to archive. @default 5000 */
  intervalMs?: number;
  /**
   * How long after a period's end it is archived: replicas whose clocks lag by less than this
   * still write into it before it closes. @default 5000
   */
  delayMs?: number;
  /** Largest number of entries archived per period (a board's `archiveTop` may lower it). @default 100000 */
  maxEntries?: number;
  /** Statement timeout of one archive, which copies up to `maxEntries` rows. @default 60000 */
  archiveTimeoutMs?: number;
  /** Called once per period this replica archived (whoever wins the race). */
  onArchived?: (board: string, period: string, entries: number) => void;
}

/** A finished period of a reset board, as the API lists it. */
export interface ArchivedPeriod {
  /** `20261126T0000Z`: the period's start. */
  id: string;
  startsAt: string;
  endsAt: string;
  archivedAt: string;
  entries: number;
}

export interface ArchivedEntry {
  rank: number;
  playerId: string;
  name: string | null;
  score: number;
  /** Only on a board configured with a subscore. */
  subscore?: number;
}

interface PeriodRow {
  period: string;
  starts_at: Date;
  ends_at: Date;
  archived_at: Date;
  entries: number;
}

const toPeriod = (row: PeriodRow): ArchivedPeriod => ({
  id: row.period.slice(2),
  startsAt: row.starts_at.toISOString(),
  endsAt: row.ends_at.toISOString(),
  archivedAt: row.archived_at.toISOString(),
  entries: row.entries,
});

interface EntryRow {
  rank: number;
  player: string;
  name: string | null;
  score: string;
  subscore: string | null;
}

const toEntry = (row: EntryRow, config: BoardConfig | null): ArchivedEntry => ({
  rank: row.rank,
  playerId: row.player,
  name: row.name,
  score: Number(row.score),
  ...(config?.subscore ? { subscore: Number(row.subscore ?? 0) } : {}),
});

/**
 * Archives the final standings of every ended period of the reset boards, exactly once whichever
 * replica sees the end first: the archive is one transaction that claims the period with
 * `UPDATE lb_periods SET archived_at ... WHERE archived_at IS NULL` (the row lock makes every
 * other replica's claim wait for it and then match nothing) and copies the ranked rows in the
 * same transaction. Writes into the period lock the same row FOR SHARE (score-journal.ts), so
 * the copy holds every acknowledged score of the period.
 */
export class PeriodArchiver {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private closed = false;

  constructor(private readonly options: PeriodArchiverOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.ticking || this.closed) return;
      this.ticking = this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.options.log.warn({ err: error }, 'period archive failed'))
        .finally(() => {
          this.ticking = undefined;
        });
    }, this.options.intervalMs ?? 5000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.ticking;
  }

  /** Archives every period due now (returns how many this replica archived). */
  async tick(): Promise<number> {
    const dueBefore = new Date(this.options.clock() - (this.options.delayMs ?? 5000));
    const due = await this.options.pg.query<{ board: string; period: string }>(
      `SELECT board, period FROM lb_periods
       WHERE archived_at IS NULL AND ends_at <= $1 ORDER BY ends_at LIMIT 20`,
      [dueBefore.toISOString()],
    );
    let archived = 0;
    for (const { board, period } of due.rows) {
      if (this.closed) break;
      if (await this.archive(board, period)) archived += 1;
    }
    if (!this.closed) await this.prune();
    return archived;
  }

  /** Archives one period unless another replica did; true when this call did. */
  private async archive(board: string, period: string): Promise<boolean> {
    const client = await this.options.pg.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `SET LOCAL statement_timeout = ${this.options.archiveTimeoutMs ?? 60_000}`,
      );
      const claim = await client.query<{ config: BoardConfig | null }>(
        `UPDATE lb_periods p SET archived_at = $3, archived_by = $4
         FROM lb_boards b
         WHERE p.board = $1 AND p.period = $2 AND p.archived_at IS NULL AND b.board = p.board
         RETURNING b.config`,
        [board, period, new Date(this.options.clock()).toISOString(), this.options.replica],
      );
      if (claim.rowCount === 0) {
        await client.query('ROLLBACK');
        return false;
      }
      const config = claim.rows[0].config;
      // Score, then subscore (0 on boards without one), then arrival: as the sorted set ranks.
      const order = [
        config?.sort === 'asc' ? 's.score ASC' : 's.score DESC',
        config?.subscore === 'asc' ? 's.subscore ASC' : 's.subscore DESC',
      ].join(', ');
      const limit = Math.min(config?.archiveTop ?? Infinity, this.options.maxEntries ?? 100_000);
      const copied = await client.query(
        `INSERT INTO lb_period_entries (board, period, rank, player, name, score, subscore)
         SELECT s.board, s.period, row_number() OVER (ORDER BY ${order}, s.arrival ASC),
                s.player, n.name, s.score, s.subscore
         FROM lb_scores s LEFT JOIN lb_names n ON n.player = s.player
         WHERE s.board = $1 AND s.period = $2 AND NOT s.deleted
         ORDER BY ${order}, s.arrival ASC
         LIMIT $3`,
        [board, period, limit],
      );
      await client.query('UPDATE lb_periods SET entries = $3 WHERE board = $1 AND period = $2', [
        board,
        period,
        copied.rowCount ?? 0,
      ]);
      if (config?.webhook) await this.queueWebhook(client, board, period, config);
      await client.query('COMMIT');
      this.options.log.info({ board, period, entries: copied.rowCount }, 'period archived');
      this.options.onArchived?.(board, period, copied.rowCount ?? 0);
      return true;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Queues the period's webhook in the archive's own transaction: one row per archived period,
   * so exactly one delivery is ever due for it (webhook-dispatcher.ts delivers it).
   */
  private async queueWebhook(
    client: PoolClient,
    board: string,
    period: string,
    config: BoardConfig,
  ): Promise<void> {
    const webhook = config.webhook!;
    const [found, rows] = await Promise.all([
      client.query<PeriodRow>(
        `SELECT period, starts_at, ends_at, archived_at, entries FROM lb_periods
         WHERE board = $1 AND period = $2`,
        [board, period],
      ),
      client.query<EntryRow>(
        `SELECT rank, player, name, score, subscore FROM lb_period_entries
         WHERE board = $1 AND period = $2 AND rank <= $3 ORDER BY rank`,
        [board, period, webhook.top],
      ),
    ]);
    const payload = {
      board,
      period: toPeriod(found.rows[0]),
      entries: rows.rows.map((row) => toEntry(row, config)),
    };
    await client.query(
      'INSERT INTO lb_webhooks (board, period, url, payload) VALUES ($1, $2, $3, $4)',
      [board, period, webhook.url, JSON.stringify(payload)],
    );
  }

  /** Archived periods of a board, newest first; `before` is a period id to page from. */
  async periods(board: string, limit: number, before?: string): Promise<ArchivedPeriod[]> {
    const result = await this.options.pg.query<PeriodRow>(
      `SELECT period, starts_at, ends_at, archived_at, entries FROM lb_periods
       WHERE board = $1 AND archived_at IS NOT NULL AND ($2::text IS NULL OR period < $2)
       ORDER BY period DESC LIMIT $3`,
      [board, before === undefined ? null : `p:${before}`, limit],
    );
    return result.rows.map(toPeriod);
  }

  /** One archived period and a page of its final standings; null when it is not archived. */
  async standings(
    board: string,
    id: string,
    limit: number,
    offset: number,
  ): Promise<{ period: ArchivedPeriod; entries: ArchivedEntry[] } | null> {
    const found = await this.options.pg.query<PeriodRow>(
      `SELECT period, starts_at, ends_at, archived_at, entries FROM lb_periods
       WHERE board = $1 AND period = $2 AND archived_at IS NOT NULL`,
      [board, `p:${id}`],
    );
    if (found.rowCount === 0) return null;
    const [rows, configRow] = await Promise.all([
      this.options.pg.query<EntryRow>(
        `SELECT rank, player, name, score, subscore FROM lb_period_entries
         WHERE board = $1 AND period = $2 AND rank > $3 ORDER BY rank LIMIT $4`,
        [board, `p:${id}`, offset, limit],
      ),
      this.options.pg.query<{ config: BoardConfig | null }>(
        'SELECT config FROM lb_boards WHERE board = $1',
        [board],
      ),
    ]);
    const config = configRow.rows[0]?.config ?? null;
    return {
      period: toPeriod(found.rows[0]),
      entries: rows.rows.map((row) => toEntry(row, config)),
    };
  }

  /** Deletes rows of periods past their retention, never those of a period not yet archived. */
  async prune(limit = 10_000): Promise<number> {
    const result = await this.options.pg.query(
      `DELETE FROM lb_scores WHERE ctid IN (
         SELECT s.ctid FROM lb_scores s WHERE s.expires_at < $1
           AND NOT EXISTS (SELECT 1 FROM lb_periods p WHERE p.board = s.board
                           AND p.period = s.period AND p.archived_at IS NULL)
         LIMIT $2)`,
      [new Date(this.options.clock()).toISOString(), limit],
    );
    return result.rowCount ?? 0;
  }
}
