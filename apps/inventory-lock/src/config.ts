import { Type, type Static } from '@sinclair/typebox';
import { commonEnv, redisEnv, databaseEnv, redisConfigOf } from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';

/** Every variable inventory-lock reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3003),
  ...redisEnv('inv'),
  ...databaseEnv(),
});
export type Env = Static<typeof envSchema>;

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'inv' */
  keyPrefix: string;
  /** PostgreSQL, the source of truth. */
  database: { url: string; poolSize: number; statementTimeoutMs: number };
}

export function configFromEnv(env: Env): AppConfig {
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'inventory-lock'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
  };
}
