import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { commonEnv, databaseEnv, redisEnv, redisConfigOf } from '@redis-patterns/service-kit';
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

/** When ended periods are archived. */
export interface ArchiveConfig {
  /** @default 5000 */
  intervalMs: number;
  /** @default 5000 */
  delayMs: number;
  /** @default 100000 */
  maxEntries: number;
}

/** How period webhooks are delivered. */
export interface WebhookConfig {
  /** @default 1000 */
  intervalMs: number;
  /** @default 5000 */
  timeoutMs: number;
  /** @default 1000 */
  backoffMs: number;
  /** @default 300000 */
  maxBackoffMs: number;
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'lb' */
  keyPrefix: string;
  /** PostgreSQL, the source of truth for scores, names and archived periods. */
  database: { url: string; poolSize: number; statementTimeoutMs: number };
  retentionMs: RetentionConfig;
  /** Shortest gap between two SSE updates of one board on one replica. @default 250 */
  streamIntervalMs: number;
  archive: ArchiveConfig;
  webhooks: WebhookConfig;
  /** @default 1000 */
  rebuildWaitMs: number;
  /** Group commit of scores to PostgreSQL. @default { maxBatch: 500, concurrency: 4 } */
  commit: { maxBatch: number; concurrency: number };
  /**
   * Record every acknowledged score in PostgreSQL. Only the benchmark turns it off, to measure
   * the Redis-only path: a rebuild then loses every score. @default true
   */
  recordScores?: boolean;
  /** This replica's name in `lb_periods.archived_by`. @default `<hostname>:<pid>` */
  replicaName?: string;
  /** The clock every period is computed from (tests inject one). @default Date.now */
  clock?: () => number;
}

export function configFromEnv(env: Env): AppConfig {
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'game-leaderboard'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
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
    replicaName: `${hostname()}:${process.pid}`,
  };
}
