import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, commonEnv, redisEnv, redisConfigOf } from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';

/** Every variable game-leaderboard reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3004),
  ...redisEnv('lb'),
  /** Seconds a daily board is kept after its day ended. */
  LEADERBOARD_DAILY_RETENTION_S: Type.Integer({ minimum: 0, default: 172_800 }),
  /** Seconds a weekly board is kept after its week ended. */
  LEADERBOARD_WEEKLY_RETENTION_S: Type.Integer({ minimum: 0, default: 1_209_600 }),
  /** Seconds a monthly board is kept after its month ended. */
  LEADERBOARD_MONTHLY_RETENTION_S: Type.Integer({ minimum: 0, default: 5_356_800 }),
  /** Origin of the all-time tie-break (minute ticks, 2^22 of them: about 7.9 years). */
  LEADERBOARD_TIE_EPOCH: Type.String({
    pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$',
    default: '2026-01-01T00:00:00Z',
  }),
  /** Shortest gap between two SSE updates of one board on one replica. */
  LEADERBOARD_STREAM_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 250 }),
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

/** How long period boards are kept after their period ended, in milliseconds. */
export interface RetentionConfig {
  /** @default 172800000 (2 days) */
  daily: number;
  /** @default 1209600000 (14 days) */
  weekly: number;
  /** @default 5356800000 (62 days) */
  monthly: number;
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'lb' */
  keyPrefix: string;
  retentionMs: RetentionConfig;
  /** Origin of the all-time board's tie-break, ms since 1970. @default 2026-01-01T00:00:00Z */
  tieEpochMs: number;
  /** Shortest gap between two SSE updates of one board on one replica. @default 250 */
  streamIntervalMs: number;
  /** The clock every period and tie-break is computed from (tests inject one). @default Date.now */
  clock?: () => number;
}

export function configFromEnv(env: Env): AppConfig {
  const tieEpochMs = Date.parse(env.LEADERBOARD_TIE_EPOCH);
  if (Number.isNaN(tieEpochMs)) {
    throw new ConfigError(
      'LEADERBOARD_TIE_EPOCH',
      `LEADERBOARD_TIE_EPOCH must be a UTC time like 2026-01-01T00:00:00Z, got "${env.LEADERBOARD_TIE_EPOCH}"`,
    );
  }
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'game-leaderboard'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    retentionMs: {
      daily: env.LEADERBOARD_DAILY_RETENTION_S * 1000,
      weekly: env.LEADERBOARD_WEEKLY_RETENTION_S * 1000,
      monthly: env.LEADERBOARD_MONTHLY_RETENTION_S * 1000,
    },
    tieEpochMs,
    streamIntervalMs: env.LEADERBOARD_STREAM_INTERVAL_MS,
  };
}
