import { Type, type Static } from '@sinclair/typebox';
import {
  ConfigError,
  commonEnv,
  redisEnv,
  databaseEnv,
  databaseConfigOf,
  redisConfigOf,
  type DatabaseConfig,
} from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';

/**
 * How a reservation protects the stock.
 * - `redlock`: read-check-write under a Redlock mutex, every write checked by a fencing token.
 * - `atomic-sql`: no lock, one conditional `UPDATE … WHERE stock >= $q` (the benchmark ceiling).
 * - `unsafe-no-lock`: the same read-check-write with no distributed lock and no fence. Tests and
 *   benchmarks only (needs `TEST_HOOKS=true`): it shows the oversell the lock prevents.
 */
export const STRATEGIES = ['redlock', 'atomic-sql', 'unsafe-no-lock'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** The longest hold TTL any configuration may allow (a day). */
export const MAX_HOLD_TTL_MS = 86_400_000;

/**
 * Every variable inventory-lock reads, with its default; `server.ts` validates the environment
 * against it. The defaults are written here only: each `@default` below names the variable whose
 * default applies (`configFromEnv` maps them), and tests derive their config from this schema.
 */
export const envSchema = Type.Object({
  ...commonEnv(3003),
  ...redisEnv('inv'),
  ...databaseEnv(),
  // The URL variables are checked by `checkUrl` instead of a schema pattern: a refused value is
  // never echoed, not even redacted (a password with an unencoded `/` or `@`, or a URL without
  // its scheme, slips past redaction).
  REDIS_URL: Type.String({ default: redisEnv('inv').REDIS_URL.default }),
  DATABASE_URL: Type.String({ default: databaseEnv().DATABASE_URL.default }),
  /**
   * Comma list of independent standalone Redis masters for Redlock; empty means `REDIS_URL`
   * alone, which is refused when the service's Redis is a Cluster or Sentinel-managed.
   */
  // Optional without a default: unset stays undefined (not ''), so a generic URL-list check
  // that splits every `*_URLS` value never sees an empty list as a malformed URL.
  REDLOCK_URLS: Type.Optional(Type.String()),
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
  HOLD_TTL_DEFAULT_MS: Type.Integer({ minimum: 1000, maximum: MAX_HOLD_TTL_MS, default: 600000 }),
  HOLD_TTL_MAX_MS: Type.Integer({ minimum: 1000, maximum: MAX_HOLD_TTL_MS, default: 3600000 }),
  HOLD_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 50, maximum: 600000, default: 1000 }),
});
export type Env = Static<typeof envSchema>;

/** Redlock settings. */
export interface LockConfig {
  /** Independent Redis masters (a quorum of them must agree). @default REDLOCK_URLS, else [REDIS_URL] */
  urls: string[];
  /**
   * True when REDLOCK_URLS was unset and `urls` is the service's REDIS_URL alone; only the
   * startup refusal's message uses it. @default false
   */
  fromRedisUrl?: boolean;
  /** Command deadline on each master. @default REDLOCK_COMMAND_TIMEOUT_MS */
  commandTimeoutMs: number;
  /** Lease of one lock. @default LOCK_TTL_MS */
  ttlMs: number;
  /** Further attempts while the sku is locked by someone else. @default LOCK_RETRY_COUNT */
  retryCount: number;
  /** Pause between attempts. @default LOCK_RETRY_DELAY_MS */
  retryDelayMs: number;
  /** Random ± added to each pause, so contenders do not retry in step. @default LOCK_RETRY_JITTER_MS */
  retryJitterMs: number;
  /** Share of the TTL assumed lost to clock drift between masters. @default LOCK_DRIFT_FACTOR */
  driftFactor: number;
  /** The lease is extended when less than this is left and the holder is still working. @default LOCK_EXTEND_THRESHOLD_MS */
  extendThresholdMs: number;
}

/** Holds (`POST /orders/:orderId/hold`). */
export interface HoldConfig {
  /** TTL of a hold that names none. @default HOLD_TTL_DEFAULT_MS */
  defaultTtlMs: number;
  /** The longest TTL a hold may ask for (a longer one is a 400 naming `ttlMs`). @default HOLD_TTL_MAX_MS */
  maxTtlMs: number;
  /** How often each replica looks for expired holds in PostgreSQL. @default HOLD_SWEEP_INTERVAL_MS */
  sweepIntervalMs: number;
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default LOG_LEVEL */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service (see `lock/lock-keys.ts`). @default REDIS_KEY_PREFIX */
  keyPrefix: string;
  /** PostgreSQL, the source of truth. @default the DATABASE_* variables */
  database: DatabaseConfig;
  lock: LockConfig;
  /** @default INVENTORY_STRATEGY */
  strategy: Strategy;
  /**
   * Honour the `x-test-pause-ms` header (a holder stalls between its read and its write, its
   * lease extension stopped, as in a GC pause). Never on in production. @default TEST_HOOKS
   */
  testHooks: boolean;
  holds: HoldConfig;
  /** Milliseconds since the epoch, for hold expiry; tests inject their own. @default Date.now */
  clock?: () => number;
}

const REDIS_SCHEMES = ['redis:', 'rediss:'];
const POSTGRES_SCHEMES = ['postgres:', 'postgresql:'];

/**
 * Checks that `value` is a URL with one of `schemes` and a host; throws a ConfigError naming the
 * variable and the rule, never any part of the value (it may carry credentials).
 */
export function checkUrl(variable: string, value: string, schemes: readonly string[]): string {
  let parsed: URL | undefined;
  try {
    parsed = /\s/.test(value) ? undefined : new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !schemes.includes(parsed.protocol) || !parsed.hostname) {
    throw new ConfigError(
      variable,
      `${variable} must be a ${schemes.map((scheme) => `${scheme}//`).join(' or ')} URL with a host (value not shown: it may carry credentials)`,
    );
  }
  return value;
}

/** Splits REDLOCK_URLS; an empty value means the one REDIS_URL. Throws naming the variable. */
export function parseRedlockUrls(value: string, fallback: string): string[] {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter((url, _index, all) => url !== '' || all.length > 1)
    .map((url) => checkUrl('REDLOCK_URLS', url, REDIS_SCHEMES));
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
  if (config.holds.defaultTtlMs > config.holds.maxTtlMs) {
    throw new ConfigError(
      'HOLD_TTL_DEFAULT_MS',
      `HOLD_TTL_DEFAULT_MS must not exceed HOLD_TTL_MAX_MS (${config.holds.maxTtlMs})`,
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

/**
 * With REDLOCK_URLS unset the lock falls back to the service's Redis. That is one standalone
 * master on a standalone Redis (kept: the fence makes it safe, it is as available as that Redis);
 * on a Cluster or a Sentinel-managed master it cannot work, so the process stops here.
 */
function refuseFallback(redis: RedisConfig, strategy: Strategy, redlockUrls: string): void {
  if (strategy !== 'redlock' || redlockUrls.trim()) return;
  const fix =
    'Set REDLOCK_URLS to independent standalone Redis servers (1, 3 or 5; no Cluster node, no replica, no Sentinel-managed master).';
  if (redis.clusterNodes?.length) {
    throw new ConfigError(
      'REDLOCK_URLS',
      `REDLOCK_URLS is unset and the service's Redis is a Cluster (REDIS_CLUSTER_NODES): a Cluster node cannot be the Redlock master: a sku whose hash slot lives on another node could never be locked. ${fix}`,
    );
  }
  if (redis.sentinels?.length) {
    throw new ConfigError(
      'REDLOCK_URLS',
      `REDLOCK_URLS is unset and the service's Redis is Sentinel-managed (REDIS_SENTINELS): its replicas copy locks asynchronously, so a failover can grant a lock that is still held. ${fix}`,
    );
  }
}

export function configFromEnv(env: Env): AppConfig {
  checkUrl('REDIS_URL', env.REDIS_URL, REDIS_SCHEMES);
  checkUrl('DATABASE_URL', env.DATABASE_URL, POSTGRES_SCHEMES);
  const redis = redisConfigOf(env, 'inventory-lock');
  const redlockUrls = env.REDLOCK_URLS ?? '';
  refuseFallback(redis, env.INVENTORY_STRATEGY, redlockUrls);
  return checkConfig({
    logLevel: env.LOG_LEVEL,
    redis,
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: databaseConfigOf(env),
    lock: {
      urls: parseRedlockUrls(redlockUrls, env.REDIS_URL),
      fromRedisUrl: !redlockUrls.trim(),
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
    holds: {
      defaultTtlMs: env.HOLD_TTL_DEFAULT_MS,
      maxTtlMs: env.HOLD_TTL_MAX_MS,
      sweepIntervalMs: env.HOLD_SWEEP_INTERVAL_MS,
    },
  });
}
