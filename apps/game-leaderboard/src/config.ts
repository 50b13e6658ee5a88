import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  commonEnv,
  databaseConfigOf,
  databaseEnv,
  redisEnv,
  redisConfigOf,
  type DatabaseConfig,
} from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import type { RetentionConfig } from './leaderboard/board-periods';

/** Every variable game-leaderboard reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3004),
  ...redisEnv('lb'),
  ...databaseEnv(),
  /** Seconds a daily board is kept after its day ended. */
  LEADERBOARD_DAILY_RETENTION_S: Type.Integer({ minimum: 0, default: 172_800 }),
  /** Seconds a weekly board is kept after its week ended. */
  LEADERBOARD_WEEKLY_RETENTION_S: Type.Integer({ minimum: 0, default: 1_209_600 }),
  /** Seconds a monthly board is kept after its month ended. */
  LEADERBOARD_MONTHLY_RETENTION_S: Type.Integer({ minimum: 0, default: 5_356_800 }),
  /** Seconds a configured board's finished period is kept (Redis and PostgreSQL rows; the archive stays). */
  LEADERBOARD_PERIOD_RETENTION_S: Type.Integer({ minimum: 0, default: 172_800 }),
  /** Shortest gap between two SSE updates of one board on one replica. */
  LEADERBOARD_STREAM_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 250 }),
  /** How often each replica looks for ended periods to archive. */
  LEADERBOARD_ARCHIVE_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 5000 }),
  /** How long after its end a period is archived (covers clock skew between replicas). */
  LEADERBOARD_ARCHIVE_DELAY_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 5000 }),
  /** Most entries archived per period (a board's archiveTop may lower it). */
  LEADERBOARD_ARCHIVE_MAX_ENTRIES: Type.Integer({
    minimum: 1,
    maximum: 10_000_000,
    default: 100_000,
  }),
  /** How often each replica looks for period webhooks to deliver. */
  LEADERBOARD_WEBHOOK_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 1000 }),
  /** Longest wait for a webhook receiver's answer (a replica's lease on a delivery is twice this). */
  LEADERBOARD_WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 5000 }),
  /** Wait before a webhook's second attempt; it doubles per attempt, with jitter. */
  LEADERBOARD_WEBHOOK_BACKOFF_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 1000 }),
  /** Longest wait between two attempts of a webhook. */
  LEADERBOARD_WEBHOOK_MAX_BACKOFF_MS: Type.Integer({
    minimum: 10,
    maximum: 86_400_000,
    default: 300_000,
  }),
  /** How long a request waits for a board's index rebuild before answering 503 BOARD_REBUILDING. */
  LEADERBOARD_REBUILD_WAIT_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  /** Most submissions committed to PostgreSQL in one statement (group commit). */
  LEADERBOARD_COMMIT_BATCH: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** Commit statements in flight at once per replica. */
  LEADERBOARD_COMMIT_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
});
export type Env = Static<typeof envSchema>;

/** The seed command's variables on top of the service's (`node dist/seed.js [players] [board]`). */
export const seedEnvSchema = Type.Object({
  ...envSchema.properties,
  /** How many synthetic players the seed command writes. */
  SEED_PLAYERS: Type.Integer({ minimum: 1, maximum: 100_000_000, default: 10_000 }),
  /** The board the seed command fills. */
  SEED_BOARD: Type.String({ pattern: '^[a-z0-9_-]{1,64}$', default: 'global' }),
});
export type SeedEnv = Static<typeof seedEnvSchema>;

/** When ended periods are archived (`LEADERBOARD_ARCHIVE_*`). */
export interface ArchiveConfig {
  intervalMs: number;
  delayMs: number;
  maxEntries: number;
}

/** How period webhooks are delivered (`LEADERBOARD_WEBHOOK_*`). */
export interface WebhookConfig {
  intervalMs: number;
  timeoutMs: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/**
 * What `buildApp` needs; tests build it directly. Every default is the one of `envSchema` (the
 * variable named beside each field), written there only.
 */
export interface AppConfig {
  /** Pino level (`LOG_LEVEL`). */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service (`REDIS_KEY_PREFIX`). */
  keyPrefix: string;
  /** PostgreSQL, the source of truth for scores, names and archived periods (`DATABASE_*`). */
  database: DatabaseConfig;
  /** `LEADERBOARD_*_RETENTION_S`, in ms. */
  retentionMs: RetentionConfig;
  /** Shortest gap between two SSE updates of one board on one replica (`LEADERBOARD_STREAM_INTERVAL_MS`). */
  streamIntervalMs: number;
  archive: ArchiveConfig;
  webhooks: WebhookConfig;
  /** `LEADERBOARD_REBUILD_WAIT_MS`. */
  rebuildWaitMs: number;
  /** Group commit of scores to PostgreSQL (`LEADERBOARD_COMMIT_BATCH`, `LEADERBOARD_COMMIT_CONCURRENCY`). */
  commit: { maxBatch: number; concurrency: number };
  /**
   * Record every acknowledged score in PostgreSQL. Only the benchmark turns it off (`false`), to
   * measure the Redis-only path: a rebuild then loses every score. Unset: recorded.
   */
  recordScores?: boolean;
  /** This replica's name in `lb_periods.archived_by`. Unset: `<hostname>:<pid>`. */
  replicaName?: string;
  /** The clock every period is computed from (tests inject one). Unset: `Date.now`. */
  clock?: () => number;
}

export function configFromEnv(env: Env): AppConfig {
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'game-leaderboard'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: databaseConfigOf(env),
    retentionMs: {
      daily: env.LEADERBOARD_DAILY_RETENTION_S * 1000,
      weekly: env.LEADERBOARD_WEEKLY_RETENTION_S * 1000,
      monthly: env.LEADERBOARD_MONTHLY_RETENTION_S * 1000,
      period: env.LEADERBOARD_PERIOD_RETENTION_S * 1000,
    },
    streamIntervalMs: env.LEADERBOARD_STREAM_INTERVAL_MS,
    archive: {
      intervalMs: env.LEADERBOARD_ARCHIVE_INTERVAL_MS,
      delayMs: env.LEADERBOARD_ARCHIVE_DELAY_MS,
      maxEntries: env.LEADERBOARD_ARCHIVE_MAX_ENTRIES,
    },
    webhooks: {
      intervalMs: env.LEADERBOARD_WEBHOOK_INTERVAL_MS,
      timeoutMs: env.LEADERBOARD_WEBHOOK_TIMEOUT_MS,
      backoffMs: env.LEADERBOARD_WEBHOOK_BACKOFF_MS,
      maxBackoffMs: env.LEADERBOARD_WEBHOOK_MAX_BACKOFF_MS,
    },
    rebuildWaitMs: env.LEADERBOARD_REBUILD_WAIT_MS,
    commit: {
      maxBatch: env.LEADERBOARD_COMMIT_BATCH,
      concurrency: env.LEADERBOARD_COMMIT_CONCURRENCY,
    },
  };
}

/** The config of an environment that sets nothing: every field at its `envSchema` default. */
export function defaultConfig(): AppConfig {
  return configFromEnv(Value.Default(envSchema, {}) as Env);
}
