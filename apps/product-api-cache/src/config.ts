import { Type, type Static } from '@sinclair/typebox';
import {
  commonEnv,
  databaseConfigOf,
  databaseEnv,
  loadConfig,
  redisConfigOf,
  redisEnv,
  type DatabaseConfig,
} from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import { CLOCK_MARGIN_MS } from './cache/eviction-message';

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
  /**
   * With a stale copy in hand, the longest a read waits for the fresh value before answering
   * the stale copy (the load goes on in the background). 0: stale at once.
   */
  CACHE_SOFT_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 50 }),
  /**
   * Without a copy, the longest a read waits for PostgreSQL (its own load or another
   * replica's) before answering 503 DATABASE_UNAVAILABLE; the load goes on and still fills.
   */
  CACHE_HARD_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 1_500 }),
  /**
   * Most requests of one replica queued behind a slow load of one entry; past it they get the
   * stale copy if there is one, else 503 LOAD_QUEUE_FULL with Retry-After.
   */
  CACHE_MAX_WAITERS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1_000 }),
  /** Longest `max-age` told to HTTP clients (never more than the server copy's own freshness). */
  CACHE_HTTP_MAX_AGE_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 5_000 }),
  /**
   * `either`: ready while Redis or PostgreSQL is usable (hits and stale copies are served while
   * PostgreSQL is away, reads go to PostgreSQL while Redis is). `database`: readiness follows
   * PostgreSQL. `both`: ready only while both are usable.
   */
  READINESS_MODE: Type.Union(
    [Type.Literal('either'), Type.Literal('database'), Type.Literal('both')],
    {
      default: 'either',
    },
  ),
  /** In-process L1 tier in front of Redis, evicted on every replica over Redis pub/sub. */
  CACHE_L1_ENABLED: Type.Boolean({ default: true }),
  /** Most entries the L1 tier holds (LRU). */
  CACHE_L1_MAX_ENTRIES: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
  /** L1 entry lifetime: the worst-case staleness of another replica when an eviction message is lost. */
  CACHE_L1_TTL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  /**
   * Longest a write waits for every registered replica to confirm it dropped the changed entries
   * (or to leave the registry); past it the write answers 503. Keep it above
   * CACHE_MEMBER_TTL_MS so that a replica that died is waited out rather than reported.
   */
  CACHE_EVICTION_ACK_TIMEOUT_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 4_000 }),
  /** How often each replica renews its registration in the eviction registry. */
  CACHE_MEMBER_HEARTBEAT_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1_000 }),
  /**
   * Registration lifetime: a replica that stops renewing (crashed, stalled, cut off) leaves the
   * registry after it, and stops serving its L1 tier before it. At least twice the heartbeat + 250.
   */
  CACHE_MEMBER_TTL_MS: Type.Integer({ minimum: 350, maximum: 600_000, default: 3_000 }),
  /**
   * Evict what the database itself records as changed (the `cache_outbox` table its triggers
   * fill), whoever wrote it: one replica per cache reads it under a lease.
   */
  CACHE_OUTBOX_ENABLED: Type.Boolean({ default: true }),
  /** How often the outbox leader polls (NOTIFY wakes it sooner) and a standby tries the lease. */
  CACHE_OUTBOX_POLL_MS: Type.Integer({ minimum: 20, maximum: 60_000, default: 500 }),
  /** Most outbox rows turned into one eviction. */
  CACHE_OUTBOX_BATCH: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** Outbox rows older than this are pruned even if unread (the cache then drops everything). */
  CACHE_OUTBOX_RETENTION_MS: Type.Integer({
    minimum: 60_000,
    maximum: 2_592_000_000,
    default: 86_400_000,
  }),
  /**
   * XFetch's beta: a hit refreshes its entry early with a probability that grows as the soft
   * TTL nears, scaled by how long a load takes; larger refreshes earlier. 0 turns it off.
   */
  CACHE_EARLY_REFRESH_BETA: Type.Number({ minimum: 0, maximum: 100, default: 1 }),
  /** Circuit breaker: time an open breaker waits before one trial Redis command. */
  CACHE_BREAKER_RESET_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 2_000 }),
  /** Circuit breaker: error percentage over the last second that opens it. */
  CACHE_BREAKER_ERROR_PERCENT: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
});
export type Env = Static<typeof envSchema>;

/**
 * The cache tiers and their timings. Each field is the variable named beside it; its default is
 * the one `envSchema` gives that variable, and nowhere else.
 */
export interface CacheConfig {
  /** `CACHE_ENABLED` */
  enabled: boolean;
  /** Soft TTL in ms: `CACHE_TTL_MS` */
  ttlMs: number;
  /** Extra random fraction of the TTL: `CACHE_TTL_JITTER` */
  ttlJitter: number;
  /** Stale grace past the soft TTL in ms: `CACHE_STALE_GRACE_MS` */
  staleGraceMs: number;
  /** TTL of a cached 404 in ms: `CACHE_NEGATIVE_TTL_MS` */
  negativeTtlMs: number;
  /** Loader lease lifetime in ms: `CACHE_LEASE_MS` */
  leaseMs: number;
  /** Longest wait for another loader in ms: `CACHE_LEASE_WAIT_MS` */
  leaseWaitMs: number;
  /** Longest wait for a fresh value when a stale copy is in hand, in ms: `CACHE_SOFT_TIMEOUT_MS` */
  softTimeoutMs: number;
  /** Longest wait for PostgreSQL without a copy, in ms (then 503): `CACHE_HARD_TIMEOUT_MS` */
  hardTimeoutMs: number;
  /** Requests per entry and replica queued behind a slow load: `CACHE_MAX_WAITERS` */
  maxWaiters: number;
  /** Cap of the `max-age` sent to HTTP clients, in ms: `CACHE_HTTP_MAX_AGE_MS` */
  httpMaxAgeMs: number;
  /** L1 tier on: `CACHE_L1_ENABLED` */
  l1Enabled: boolean;
  /** L1 capacity: `CACHE_L1_MAX_ENTRIES` */
  l1MaxEntries: number;
  /** L1 entry lifetime in ms: `CACHE_L1_TTL_MS` */
  l1TtlMs: number;
  /** Longest wait for the replicas' eviction acknowledgements in ms: `CACHE_EVICTION_ACK_TIMEOUT_MS` */
  evictionAckTimeoutMs: number;
  /** Registration renewal period of each replica in ms: `CACHE_MEMBER_HEARTBEAT_MS` */
  memberHeartbeatMs: number;
  /** Registration lifetime in ms (at least 2 × heartbeat + 250): `CACHE_MEMBER_TTL_MS` */
  memberTtlMs: number;
  /** Outbox-driven invalidation on: `CACHE_OUTBOX_ENABLED` */
  outboxEnabled: boolean;
  /** Outbox poll period (and standby lease attempts) in ms: `CACHE_OUTBOX_POLL_MS` */
  outboxPollMs: number;
  /** Outbox rows per eviction: `CACHE_OUTBOX_BATCH` */
  outboxBatchSize: number;
  /** Age past which outbox rows are pruned unread, in ms: `CACHE_OUTBOX_RETENTION_MS` */
  outboxRetentionMs: number;
  /** XFetch beta for early refresh of hits; 0 off: `CACHE_EARLY_REFRESH_BETA` */
  earlyRefreshBeta: number;
  /** Breaker reset timeout in ms: `CACHE_BREAKER_RESET_MS` */
  breakerResetMs: number;
  /** Breaker error percentage: `CACHE_BREAKER_ERROR_PERCENT` */
  breakerErrorPercent: number;
}

/** What `buildApp` needs; tests build it directly. Defaults as for `CacheConfig`. */
export interface AppConfig {
  /** Pino level: `LOG_LEVEL` */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service: `REDIS_KEY_PREFIX` */
  keyPrefix: string;
  /** PostgreSQL, the source of truth: the `DATABASE_*` variables. */
  database: DatabaseConfig;
  cache: CacheConfig;
  /** When `/health/ready` answers 503: `READINESS_MODE` */
  readiness: ReadinessMode;
}

/** Which dependencies readiness requires. */
export type ReadinessMode = Env['READINESS_MODE'];

export function configFromEnv(env: Env): AppConfig {
  if (env.CACHE_MEMBER_TTL_MS < 2 * env.CACHE_MEMBER_HEARTBEAT_MS + CLOCK_MARGIN_MS) {
    throw new Error(
      `CACHE_MEMBER_TTL_MS (${env.CACHE_MEMBER_TTL_MS}) must be at least twice CACHE_MEMBER_HEARTBEAT_MS (${env.CACHE_MEMBER_HEARTBEAT_MS}) + ${CLOCK_MARGIN_MS}`,
    );
  }
  if (env.CACHE_SOFT_TIMEOUT_MS >= env.CACHE_HARD_TIMEOUT_MS) {
    throw new Error(
      `CACHE_SOFT_TIMEOUT_MS (${env.CACHE_SOFT_TIMEOUT_MS}) must be below CACHE_HARD_TIMEOUT_MS (${env.CACHE_HARD_TIMEOUT_MS})`,
    );
  }
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'product-api-cache'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: databaseConfigOf(env),
    cache: {
      enabled: env.CACHE_ENABLED,
      ttlMs: env.CACHE_TTL_MS,
      ttlJitter: env.CACHE_TTL_JITTER,
      staleGraceMs: env.CACHE_STALE_GRACE_MS,
      negativeTtlMs: env.CACHE_NEGATIVE_TTL_MS,
      leaseMs: env.CACHE_LEASE_MS,
      leaseWaitMs: env.CACHE_LEASE_WAIT_MS,
      softTimeoutMs: env.CACHE_SOFT_TIMEOUT_MS,
      hardTimeoutMs: env.CACHE_HARD_TIMEOUT_MS,
      maxWaiters: env.CACHE_MAX_WAITERS,
      httpMaxAgeMs: env.CACHE_HTTP_MAX_AGE_MS,
      l1Enabled: env.CACHE_L1_ENABLED,
      l1MaxEntries: env.CACHE_L1_MAX_ENTRIES,
      l1TtlMs: env.CACHE_L1_TTL_MS,
      evictionAckTimeoutMs: env.CACHE_EVICTION_ACK_TIMEOUT_MS,
      memberHeartbeatMs: env.CACHE_MEMBER_HEARTBEAT_MS,
      memberTtlMs: env.CACHE_MEMBER_TTL_MS,
      outboxEnabled: env.CACHE_OUTBOX_ENABLED,
      outboxPollMs: env.CACHE_OUTBOX_POLL_MS,
      outboxBatchSize: env.CACHE_OUTBOX_BATCH,
      outboxRetentionMs: env.CACHE_OUTBOX_RETENTION_MS,
      earlyRefreshBeta: env.CACHE_EARLY_REFRESH_BETA,
      breakerResetMs: env.CACHE_BREAKER_RESET_MS,
      breakerErrorPercent: env.CACHE_BREAKER_ERROR_PERCENT,
    },
    readiness: env.READINESS_MODE,
  };
}

/** The defaults of `envSchema` with some fields changed, for tests and benchmarks. */
export function defaultCacheConfig(overrides: Partial<CacheConfig> = {}): CacheConfig {
  return { ...configFromEnv(loadConfig(envSchema, {})).cache, ...overrides };
}
