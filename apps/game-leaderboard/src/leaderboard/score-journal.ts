import type { Pool } from 'pg';
import type { TimeWindow } from './board-periods';

/** The state of one player on one sorted set of a board after a submission or delete. */
export interface ScoreRow {
  board: string;
  /** `all`, `daily:2026-11-26`, `p:20261126T0000Z`, ... (board-periods.ts). */
  period: string;
  player: string;
  score: number;
  arrival: number;
  /** 0 on a board without subscores. */
  subscore: number;
  /** The index epoch the write was made under (which rebuild of the board's index). */
  epoch: number;
  /**
   * The board counter at the change that produced this state (for a score, its arrival; for a
   * delete, the delete's): orders states of one epoch as Redis ran them.
   */
  version: number;
  /** A delete: the row stays as a tombstone so an older write cannot bring the player back. */
  deleted: boolean;
  /** When the row may be pruned (ms since 1970), null for never. */
  expiresAtMs: number | null;
  /** A reset board's period window: the period is registered for archiving on first sight. */
  window: TimeWindow | null;
}

/** What became of one write. */
export interface JournalOutcome {
  /** Periods that were already archived: those rows were refused (answer 409, nothing kept). */
  closedPeriods: string[];
  /** The board's index epoch in Redis read after the commit (null: no index). */
  epochAfterCommit: number | null;
}

export interface ScoreJournalOptions {
  pg: Pool;
  /**
   * The board's index epoch in Redis now, read once per board per batch after its commit: a
   * write is acknowledged only if the index it went to still serves the board.
   */
  epochOf: (board: string) => Promise<number | null>;
  /**
   * Submissions committed in one statement at most (group commit).
   * @default 500
   */
  maxBatch?: number;
  /**
   * Statements in flight at once; the next batch gathers while they run.
   * @default 4
   */
  concurrency?: number;
}

interface Pending {
  board: string;
  rows: ScoreRow[];
  resolve: (outcome: JournalOutcome) => void;
  reject: (error: unknown) => void;
}

const rowKey = (row: { board: string; period: string; player: string }) =>
  `${row.board}\n${row.period}\n${row.player}`;

/**
 * Upserts the rows; a row replaces the stored one only when its (epoch, version) is larger, so
 * concurrent batches cannot put an older state over a newer one. Rows of a reset board's period
 * are kept only while the period is not archived: the FOR SHARE lock on its `lb_periods` row
 * orders every such batch before or after the archive's UPDATE of that row, so the archive sees
 * every row committed before it and every later row is refused (and answered 409).
 */
const UPSERT = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                       $6::bigint[], $7::bigint[], $8::boolean[], $9::timestamptz[], $10::bigint[])
    AS u(board, period, player, score, arrival, epoch, version, deleted, expires_at, subscore)
),
open AS (
  SELECT p.board, p.period FROM lb_periods p
  WHERE (p.board, p.period) IN (SELECT board, period FROM input WHERE period LIKE 'p:%')
    AND p.archived_at IS NULL
  FOR SHARE OF p
),
written AS (
  INSERT INTO lb_scores AS s (board, period, player, score, arrival, epoch, version, deleted, expires_at, subscore)
  SELECT i.board, i.period, i.player, i.score, i.arrival, i.epoch, i.version, i.deleted, i.expires_at, i.subscore
  FROM input i
  WHERE (i.period NOT LIKE 'p:%'
         OR EXISTS (SELECT 1 FROM open o WHERE o.board = i.board AND o.period = i.period))
    AND NOT EXISTS (SELECT 1 FROM lb_scores d WHERE d.board = i.board AND d.period = i.period
                    AND d.player = i.player AND (d.epoch, d.version) >= (i.epoch, i.version))
  ORDER BY i.board, i.period, i.player
  ON CONFLICT (board, period, player) DO UPDATE SET
    score = excluded.score, arrival = excluded.arrival, epoch = excluded.epoch,
    version = excluded.version, deleted = excluded.deleted, expires_at = excluded.expires_at,
    subscore = excluded.subscore
  WHERE (s.epoch, s.version) < (excluded.epoch, excluded.version)
)
SELECT DISTINCT i.board, i.period FROM input i
WHERE i.period LIKE 'p:%'
  AND NOT EXISTS (SELECT 1 FROM open o WHERE o.board = i.board AND o.period = i.period)`;

/**
 * UPSERT for a batch with no reset-board period (implicit and never-resetting boards): no
 * period to lock or refuse, so neither the `open` CTE nor the refused-periods query. A batch
 * of 20 submissions to an implicit board is 80 rows; this is most batches.
 */
const UPSERT_UNPERIODED = `
INSERT INTO lb_scores AS s (board, period, player, score, arrival, epoch, version, deleted, expires_at, subscore)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::boolean[], $9::timestamptz[], $10::bigint[])
  AS i(board, period, player, score, arrival, epoch, version, deleted, expires_at, subscore)
-- A state PostgreSQL holds already (a submission that changed nothing): only an index probe.
WHERE NOT EXISTS (SELECT 1 FROM lb_scores d WHERE d.board = i.board AND d.period = i.period
                  AND d.player = i.player AND (d.epoch, d.version) >= (i.epoch, i.version))
ORDER BY 1, 2, 3
ON CONFLICT (board, period, player) DO UPDATE SET
  score = excluded.score, arrival = excluded.arrival, epoch = excluded.epoch,
  version = excluded.version, deleted = excluded.deleted, expires_at = excluded.expires_at,
  subscore = excluded.subscore
WHERE (s.epoch, s.version) < (excluded.epoch, excluded.version)`;

/**
 * The record of every acknowledged score in PostgreSQL, the source of truth the Redis index is
 * rebuilt from. Writes are group-committed: while up to `concurrency` statements run, new
 * writes queue, and the next statement takes up to `maxBatch` of them at once. A write's promise
 * settles only after the statement that carries it has committed.
 */
export class ScoreJournal {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private readonly knownPeriods = new Set<string>();
  private readonly maxBatch: number;
  private readonly concurrency: number;

  constructor(private readonly options: ScoreJournalOptions) {
    this.maxBatch = options.maxBatch ?? 500;
    this.concurrency = options.concurrency ?? 4;
  }

  /** Resolves once `rows` (all of `board`) are committed, or refused as their period is archived. */
  write(board: string, rows: ScoreRow[]): Promise<JournalOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ board, rows, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += 1;
      void this.flush(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    try {
      const closed = await this.commit(batch.flatMap((pending) => pending.rows));
      const boards = [...new Set(batch.map((pending) => pending.board))];
      const epochs = new Map(
        await Promise.all(
          boards.map(async (board) => [board, await this.options.epochOf(board)] as const),
        ),
      );
      for (const pending of batch) {
        pending.resolve({
          epochAfterCommit: epochs.get(pending.board) ?? null,
          closedPeriods: [
            ...new Set(
              pending.rows
                .filter((row) => closed.has(`${row.board}\n${row.period}`))
                .map((row) => row.period),
            ),
          ],
        });
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }

  /** Registers new reset periods, then upserts; returns the `board\nperiod` pairs refused. */
  private async commit(all: ScoreRow[]): Promise<Set<string>> {
    // One row per key, the latest: a statement may not update the same row twice.
    const latest = new Map<string, ScoreRow>();
    for (const row of all) {
      const key = rowKey(row);
      const seen = latest.get(key);
      if (
        !seen ||
        seen.epoch < row.epoch ||
        (seen.epoch === row.epoch && seen.version < row.version)
      )
        latest.set(key, row);
    }
    const rows = [...latest.values()];
    const fresh = new Map<string, ScoreRow>();
    for (const row of rows) {
      const key = `${row.board}\n${row.period}`;
      if (row.window && !this.knownPeriods.has(key)) fresh.set(key, row);
    }
    if (fresh.size > 0) {
      const periods = [...fresh.values()];
      await this.options.pg.query(
        `INSERT INTO lb_periods (board, period, starts_at, ends_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
         ON CONFLICT DO NOTHING`,
        [
          periods.map((row) => row.board),
          periods.map((row) => row.period),
          periods.map((row) => new Date(row.window!.startMs).toISOString()),
          periods.map((row) => new Date(row.window!.endMs).toISOString()),
        ],
      );
      // Only saves a statement; forgetting costs one ON CONFLICT DO NOTHING again.
      if (this.knownPeriods.size > 10_000) this.knownPeriods.clear();
      for (const key of fresh.keys()) this.knownPeriods.add(key);
    }
    // Named: each connection parses and plans the statement once, not once per batch.
    const periodic = rows.some((row) => row.period.startsWith('p:'));
    const result = await this.options.pg.query<{ board: string; period: string }>({
      name: periodic ? 'lb-upsert-scores' : 'lb-upsert-scores-unperioded',
      text: periodic ? UPSERT : UPSERT_UNPERIODED,
      values: [
        rows.map((row) => row.board),
        rows.map((row) => row.period),
        rows.map((row) => row.player),
        rows.map((row) => String(row.score)),
        rows.map((row) => String(row.arrival)),
        rows.map((row) => String(row.epoch)),
        rows.map((row) => String(row.version)),
        rows.map((row) => row.deleted),
        rows.map((row) =>
          row.expiresAtMs === null ? null : new Date(row.expiresAtMs).toISOString(),
        ),
        rows.map((row) => String(row.subscore)),
      ],
    });
    return new Set((periodic ? result.rows : []).map((row) => `${row.board}\n${row.period}`));
  }
}
