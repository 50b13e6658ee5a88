import { Type, type Static } from '@sinclair/typebox';
import {
  ConfigError,
  commonEnv,
  redisEnv,
  databaseEnv,
  redisConfigOf,
} from '@redis-patterns/service-kit';
import { assertRedisUrl, type RedisConfig } from '@redis-patterns/redis-core';

/**
 * How a reservation protects the stock.
 * - `redlock`: read-check-write under a Redlock mutex, every write checked by a fencing token.
 * - `atomic-sql`: no lock, one conditional `UPDATE … WHERE stock >= $q` (the benchmark ceiling).
 * - `unsafe-no-lock`: the same read-check-write with no distributed lock and no fence. Tests and
 *   benchmarks only (needs `TEST_HOOKS=true`): it shows the oversell the lock prevents.
 */
export const STRATEGIES = ['redlock', 'atomic-sql', 'unsafe-no-lock'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Every variable inventory-lock reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3003),
  ...redisEnv('inv'),
  ...databaseEnv(),
  /** Comma list of independent Redis masters for Redlock; empty means `REDIS_URL` alone. */
  REDLOCK_URLS: Type.String({
    pattern: '^( *rediss?://[^,\\s]+ *(, *rediss?://[^,\\s]+ *)*)?$',
    default: '',
  }),
  /** Per-command deadline on the Redlock masters: a paused master must not stall an acquisition. */
  REDLOCK_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 10000, default: 200 }),
  LOCK_TTL_MS: Type.Integer({ minimum: 200, maximum: 600000, default: 3000 }),
  LOCK_RETRY_COUNT: Type.Integer({ minimum: 0, maximum: 10000, default: 40 }),
  LOCK_RETRY_DELAY_MS: Type.Integer({ minimum: 0, maximum: 10000, default: 50 }),
  LOCK_RETRY_JITTER_MS: Type.Integer({ minimum: 0, maximum: 10000, default: 50 }),
  LOCK_DRIFT_FACTOR: Type.Number({ minimum: 0, maximum: 0.5, default: 0.01 }),
  LOCK_EXTEND_THRESHOLD_MS: Type.Integer({ minimum: 10, maximum: 600000, default: 1000 }),
  INVENTORY_STRATEGY: Type.Union(
    STRATEGIES.map((s) => Type.Literal(s)),
    { default: 'redlock' },
  ),
  TEST_HOOKS: Type.Boolean({ default: false }),
});
export type Env = Static<typeof envSchema>;

/** Redlock settings. */
export interface LockConfig {
  /** Independent Redis masters (a quorum of them must agree). @default [REDIS_URL] */
  urls: string[];
  /** Command deadline on each master. @default 200 */
  commandTimeoutMs: number;
  /** Lease of one lock. @default 3000 */
  ttlMs: number;
  /** Further attempts while the sku is locked by someone else. @default 40 */
  retryCount: number;
  /** Pause between attempts. @default 50 */
  retryDelayMs: number;
  /** Random ± added to each pause, so contenders do not retry in step. @default 50 */
  retryJitterMs: number;
  /** Share of the TTL assumed lost to clock drift between masters. @default 0.01 */
  driftFactor: number;
  /** The lease is extended when less than this is left and the holder is still working. @default 1000 */
  extendThresholdMs: number;
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'inv' */
  keyPrefix: string;
  /** PostgreSQL, the source of truth. */
  database: { url: string; poolSize: number; statementTimeoutMs: number };
  lock: LockConfig;
  /** @default 'redlock' */
  strategy: Strategy;
  /**
   * Honour the `x-test-pause-ms` header (a holder stalls between its read and its write, its
   * lease extension stopped, as in a GC pause). Never on in production. @default false
   */
  testHooks: boolean;
}

/** Splits REDLOCK_URLS; an empty value means the one REDIS_URL. Throws naming the variable. */
export function parseRedlockUrls(value: string, fallback: string): string[] {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean)
    .map((url) => assertRedisUrl(url, 'REDLOCK_URLS'));
  if (new Set(urls).size !== urls.length) {
    throw new ConfigError('REDLOCK_URLS', 'REDLOCK_URLS must not list a master twice');
  }
  return urls.length ? urls : [fallback];
}

/** Cross-field rules the schema cannot express; throws a ConfigError naming the variable. */
export function checkConfig(config: AppConfig): AppConfig {
  if (config.lock.extendThresholdMs + 100 > config.lock.ttlMs) {
    throw new ConfigError(
      'LOCK_EXTEND_THRESHOLD_MS',
      `LOCK_EXTEND_THRESHOLD_MS must be at least 100 ms below LOCK_TTL_MS (${config.lock.ttlMs})`,
    );
  }
  if (config.strategy === 'unsafe-no-lock' && !config.testHooks) {
    throw new ConfigError(
      'INVENTORY_STRATEGY',
      'INVENTORY_STRATEGY=unsafe-no-lock oversells; it is only allowed with TEST_HOOKS=true',
    );
  }
  return config;
}

export function configFromEnv(env: Env): AppConfig {
  return checkConfig({
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'inventory-lock'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    lock: {
      urls: parseRedlockUrls(env.REDLOCK_URLS, env.REDIS_URL),
      commandTimeoutMs: env.REDLOCK_COMMAND_TIMEOUT_MS,
      ttlMs: env.LOCK_TTL_MS,
      retryCount: env.LOCK_RETRY_COUNT,
      retryDelayMs: env.LOCK_RETRY_DELAY_MS,
      retryJitterMs: env.LOCK_RETRY_JITTER_MS,
      driftFactor: env.LOCK_DRIFT_FACTOR,
      extendThresholdMs: env.LOCK_EXTEND_THRESHOLD_MS,
    },
    strategy: env.INVENTORY_STRATEGY,
    testHooks: env.TEST_HOOKS,
  });
}
