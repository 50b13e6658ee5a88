import { Type, type Static } from '@sinclair/typebox';
import {
  commonEnv,
  redisEnv,
  databaseEnv,
  loadConfig,
  redisConfigOf,
} from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';

/** Every variable product-api-cache reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3001),
  ...redisEnv('cache'),
  ...databaseEnv(),
  /** `false` turns the whole cache off: every read goes to PostgreSQL (`x-cache: bypass`). */
  CACHE_ENABLED: Type.Boolean({ default: true }),
  /** Soft TTL: after it a value is served as `stale` while one background refresh runs. */
  CACHE_TTL_MS: Type.Integer({ minimum: 100, maximum: 86_400_000, default: 60_000 }),
  /** Random extra fraction of the TTL (0.2 = up to +20 %), so keys written together expire apart. */
  CACHE_TTL_JITTER: Type.Number({ minimum: 0, maximum: 1, default: 0.2 }),
  /** How long past the soft TTL a value may still be served stale (also while PostgreSQL is down). */
  CACHE_STALE_GRACE_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 30_000 }),
  /** TTL of a cached 404, so a flood of unknown ids does not reach PostgreSQL. */
  CACHE_NEGATIVE_TTL_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 5_000 }),
  /** Lifetime of a loader's lease; a dead loader's lease lapses after it and a waiter takes over. */
  CACHE_LEASE_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1_000 }),
  /** Longest a request waits for another replica's loader before querying PostgreSQL itself. */
  CACHE_LEASE_WAIT_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1_500 }),
  /** In-process L1 tier in front of Redis, evicted on every replica over Redis pub/sub. */
  CACHE_L1_ENABLED: Type.Boolean({ default: true }),
  /** Most entries the L1 tier holds (LRU). */
  CACHE_L1_MAX_ENTRIES: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
  /** L1 entry lifetime: the worst-case staleness of another replica when an eviction message is lost. */
  CACHE_L1_TTL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  /** Longest a write waits for every replica to confirm it dropped the changed entries. */
  CACHE_EVICTION_ACK_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 10_000, default: 200 }),
  /** Circuit breaker: time an open breaker waits before one trial Redis command. */
  CACHE_BREAKER_RESET_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 2_000 }),
  /** Circuit breaker: error percentage over the last second that opens it. */
  CACHE_BREAKER_ERROR_PERCENT: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
});
export type Env = Static<typeof envSchema>;

/** The cache tiers and their timings. */
export interface CacheConfig {
  /** @default true */
  enabled: boolean;
  /** Soft TTL in ms. @default 60000 */
  ttlMs: number;
  /** Extra random fraction of the TTL. @default 0.2 */
  ttlJitter: number;
  /** Stale grace past the soft TTL in ms. @default 30000 */
  staleGraceMs: number;
  /** TTL of a cached 404 in ms. @default 5000 */
  negativeTtlMs: number;
  /** Loader lease lifetime in ms. @default 1000 */
  leaseMs: number;
  /** Longest wait for another loader in ms. @default 1500 */
  leaseWaitMs: number;
  /** L1 tier on. @default true */
  l1Enabled: boolean;
  /** L1 capacity. @default 10000 */
  l1MaxEntries: number;
  /** L1 entry lifetime in ms. @default 1000 */
  l1TtlMs: number;
  /** Longest wait for the replicas' eviction acknowledgements in ms. @default 200 */
  evictionAckTimeoutMs: number;
  /** Breaker reset timeout in ms. @default 2000 */
  breakerResetMs: number;
  /** Breaker error percentage. @default 50 */
  breakerErrorPercent: number;
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'cache' */
  keyPrefix: string;
  /** PostgreSQL, the source of truth. */
  database: { url: string; poolSize: number; statementTimeoutMs: number };
  cache: CacheConfig;
}

export function configFromEnv(env: Env): AppConfig {
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'product-api-cache'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    cache: {
      enabled: env.CACHE_ENABLED,
      ttlMs: env.CACHE_TTL_MS,
      ttlJitter: env.CACHE_TTL_JITTER,
      staleGraceMs: env.CACHE_STALE_GRACE_MS,
      negativeTtlMs: env.CACHE_NEGATIVE_TTL_MS,
      leaseMs: env.CACHE_LEASE_MS,
      leaseWaitMs: env.CACHE_LEASE_WAIT_MS,
      l1Enabled: env.CACHE_L1_ENABLED,
      l1MaxEntries: env.CACHE_L1_MAX_ENTRIES,
      l1TtlMs: env.CACHE_L1_TTL_MS,
      evictionAckTimeoutMs: env.CACHE_EVICTION_ACK_TIMEOUT_MS,
      breakerResetMs: env.CACHE_BREAKER_RESET_MS,
      breakerErrorPercent: env.CACHE_BREAKER_ERROR_PERCENT,
    },
  };
}

/** The defaults of `envSchema` with some fields changed, for tests and benchmarks. */
export function defaultCacheConfig(overrides: Partial<CacheConfig> = {}): CacheConfig {
  return { ...configFromEnv(loadConfig(envSchema, {})).cache, ...overrides };
}
