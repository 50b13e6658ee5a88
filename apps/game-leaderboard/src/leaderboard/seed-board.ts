import type { Pool } from 'pg';
import { IMPLICIT_BOARD } from './board-config';
import { writePeriods, type RetentionConfig } from './board-periods';

export interface SeedOptions {
  board: string;
  /** How many players: `player-1` .. `player-<n>`. */
  players: number;
  /** Highest random score (scores are uniform in 0..maxScore). @default 1000000 */
  maxScore?: number;
  /** Also fill the current daily, weekly and monthly views. @default true */
  periods?: boolean;
  /** Also set display names `Player <i>`. @default true */
  names?: boolean;
  /** Rows per INSERT statement. @default 10000 */
  batch?: number;
  nowMs: number;
  retentionMs: RetentionConfig;
}

/** Player id `i` (1-based) of a seeded board. */
export function seededPlayerId(i: number): string {
  return `player-${i}`;
}

/** A random permutation of 0..n-1 (Fisher-Yates). */
function shuffled(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i += 1) order[i] = i;
  for (let i = n - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/**
 * Writes `players` synthetic players of an implicit board into PostgreSQL, the source of truth,
 * with big multi-row INSERTs, for demos and benchmarks. Scores are uniform (stratified) over
 * 0..maxScore; arrivals follow a random order. It overwrites (it is not a submission) and does
 * not touch Redis: drop the board's index afterwards (`DEL <prefix>:{board}:meta`, as the seed
 * command does) and the next access rebuilds it from these rows.
 */
export async function seedBoard(pg: Pool, options: SeedOptions): Promise<void> {
  const batch = options.batch ?? 10_000;
  const maxScore = options.maxScore ?? 1_000_000;
  const periods = writePeriods(IMPLICIT_BOARD, options.nowMs, options.retentionMs).slice(
    0,
    options.periods === false ? 1 : undefined,
  );
  const claimed = await pg.query<{ epoch: string }>(
    `INSERT INTO lb_boards (board) VALUES ($1)
     ON CONFLICT (board) DO UPDATE SET updated_at = now() RETURNING epoch`,
    [options.board],
  );
  const epoch = claimed.rows[0].epoch;
  const order = shuffled(options.players);
  for (let from = 0; from < options.players; from += batch) {
    const to = Math.min(options.players, from + batch);
    const numbers = Array.from({ length: to - from }, (_, i) => order[from + i] + 1);
    const ids = numbers.map(seededPlayerId);
    const scores = ids.map((_, i) =>
      String(Math.floor(((from + i + Math.random()) * (maxScore + 1)) / options.players)),
    );
    const arrivals = ids.map((_, i) => String(from + i + 1));
    for (const period of periods) {
      await pg.query(
        `INSERT INTO lb_scores (board, period, player, score, arrival, epoch, version, deleted, expires_at)
         SELECT $1, $2, u.player, u.score, u.arrival, $3, u.arrival, false, $4
         FROM unnest($5::text[], $6::bigint[], $7::bigint[]) AS u(player, score, arrival)
         ON CONFLICT (board, period, player) DO UPDATE SET score = excluded.score,
           arrival = excluded.arrival, epoch = excluded.epoch, version = excluded.version,
           deleted = false, expires_at = excluded.expires_at`,
        [
          options.board,
          period.name,
          epoch,
          period.expiresAtMs === null ? null : new Date(period.expiresAtMs).toISOString(),
          ids,
          scores,
          arrivals,
        ],
      );
    }
    if (options.names !== false) {
      await pg.query(
        `INSERT INTO lb_names (player, name) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (player) DO UPDATE SET name = excluded.name, updated_at = now()`,
        [ids, numbers.map((n) => `Player ${n}`)],
      );
    }
  }
}
