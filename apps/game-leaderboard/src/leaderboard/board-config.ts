import { createHash } from 'node:crypto';
import { parseCron, type CronSchedule } from './cron-schedule';
import type { SortOrder } from './score-encoding';

export type Operator = 'best' | 'set' | 'increment' | 'decrement';

/** What `PUT /leaderboards/:board` fixes for a board; immutable once the board has scores. */
export interface BoardConfig {
  sort: SortOrder;
  operator: Operator;
  /** A five-field cron expression in UTC at which the board starts a new period, or null. */
  reset: string | null;
  /** Free JSON for the game (a title, a season...), returned as given. */
  metadata: Record<string, unknown> | null;
  /** How many entries of a finished period are archived; null: all, up to the service's bound. */
  archiveTop: number | null;
  /**
   * The order of the optional subscore (e.g. time taken: `asc`), compared after the score and
   * before the arrival; null or absent: the board takes no subscore.
   */
  subscore?: SortOrder | null;
  /** Where the final top N of each finished period is POSTed; null or absent: nowhere. */
  webhook?: WebhookConfig | null;
}

/** A board's period-end webhook. */
export interface WebhookConfig {
  /** An http(s) URL. */
  url: string;
  /** Entries sent (the final top N). @default 10 */
  top: number;
}

/**
 * A board as the service runs it. An implicit board (never configured) is `desc` / `best` with a
 * per-request mode and all-time, daily, weekly and monthly views, as before boards had a
 * configuration.
 */
export interface Board {
  readonly implicit: boolean;
  readonly config: BoardConfig;
  /** Canonical JSON of `config` ('' for an implicit board), as Redis and PostgreSQL keep it. */
  readonly cfg: string;
  /** Short fingerprint of `cfg`: every script checks it, so no replica uses a stale config. */
  readonly cv: string;
  /** The reset schedule, null when the board never resets. */
  readonly schedule: CronSchedule | null;
}

export const IMPLICIT_BOARD: Board = {
  implicit: true,
  config: { sort: 'desc', operator: 'best', reset: null, metadata: null, archiveTop: null },
  cfg: '',
  cv: 'implicit',
  schedule: null,
};

/** JSON with object keys sorted at every depth, so equal configurations compare equal. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The board a configuration describes; throws a CronError for a reset it cannot read. */
export function configuredBoard(config: BoardConfig): Board {
  const schedule = config.reset === null ? null : parseCron(config.reset);
  const normalized: BoardConfig = {
    sort: config.sort,
    operator: config.operator,
    reset: schedule ? schedule.expression : null,
    metadata: config.metadata ?? null,
    archiveTop: config.archiveTop ?? null,
    // Absent rather than null, so the fingerprint of a board configured before these existed stays.
    subscore: config.subscore ?? undefined,
    webhook: config.webhook ?? undefined,
  };
  const cfg = canonicalJson(normalized);
  const cv = createHash('sha1').update(cfg).digest('hex').slice(0, 16);
  return { implicit: false, config: normalized, cfg, cv, schedule };
}

/** True for a board whose entries carry a subscore. */
export function hasSubscore(board: Board): boolean {
  return Boolean(board.config.subscore);
}

/** The board stored as `cfg` ('' or absent: implicit). */
export function boardFromCfg(cfg: string | null | undefined): Board {
  if (!cfg) return IMPLICIT_BOARD;
  return configuredBoard(JSON.parse(cfg) as BoardConfig);
}
