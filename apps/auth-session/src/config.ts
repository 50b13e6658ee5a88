import { availableParallelism } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import {
  commonEnv,
  ConfigError,
  databaseConfigOf,
  databaseEnv,
  browserPolicyOf,
  redisConfigOf,
  redisEnv,
  type DatabaseConfig,
  type TrustProxy,
} from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import { parseSessionSecrets } from './session/session-secrets';
import { scryptParams } from './login/password-hash';

/**
 * Every variable auth-session reads, with its default: the one place a default is written.
 * `AppConfig` below names the variable each field comes from; `server.ts` validates the
 * environment against this schema.
 */
export const envSchema = Type.Object({
  ...commonEnv(3002),
  ...redisEnv('auth'),
  ...databaseEnv(),
  /** Comma list of cookie signing secrets (>= 32 chars each); the first signs, all verify. */
  SESSION_SECRET: Type.Optional(Type.String()),
  SESSION_COOKIE_NAME: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', default: 'sid' }),
  /** Unset: true when NODE_ENV is production, else false. */
  COOKIE_SECURE: Type.Optional(Type.Boolean()),
  SESSION_IDLE_SECONDS: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 1800 }),
  SESSION_MAX_SECONDS: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 604_800 }),
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
  LOGIN_MAX_FAILURES_PER_USER: Type.Integer({ minimum: 1, maximum: 100_000, default: 100 }),
  LOGIN_FAILURE_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 900 }),
  LOGIN_KNOWN_CLIENT_SECONDS: Type.Integer({ minimum: 0, maximum: 31_536_000, default: 2_592_000 }),
  /** Unset: the CPU count, at most 4 (libuv's thread pool). */
  PASSWORD_HASH_CONCURRENCY: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  PASSWORD_HASH_QUEUE: Type.Integer({ minimum: 0, maximum: 10_000, default: 8 }),
  PASSWORD_HASH_QUEUE_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 100 }),
  PASSWORD_SCRYPT_COST: Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 32768 }),
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  TRUST_PROXY: Type.String({ default: 'false' }),
});
export type Env = Static<typeof envSchema>;

/** Only this secret's holder can mint cookies on a developer's machine; never valid elsewhere. */
export const DEVELOPMENT_SECRET = 'development-only-session-secret-do-not-deploy';

/**
 * Secrets published in this repository, which anybody can sign cookies with: refused unless
 * NODE_ENV is development. (The local stacks' own secrets, in docker/compose.yaml and the k8s
 * dev overlay, run with NODE_ENV=production today and are not listed; see the README.)
 */
const PUBLISHED_SECRETS: ReadonlySet<string> = new Set([DEVELOPMENT_SECRET]);

export interface SessionSettings {
  /** Cookie signing secrets; the first signs new cookies, every one verifies. */
  secrets: string[];
  /** `SESSION_COOKIE_NAME`. */
  cookieName: string;
  /** Mark the cookie `Secure` (HTTPS only): `COOKIE_SECURE`, unset: NODE_ENV is production. */
  cookieSecure: boolean;
  /** A session unused this long is gone: `SESSION_IDLE_SECONDS`. */
  idleSeconds: number;
  /** A session is gone this long after login, however much it is used: `SESSION_MAX_SECONDS`. */
  maxSeconds: number;
}

export interface LoginSettings {
  /** Failed logins of one (username, IP) pair before 429: `LOGIN_MAX_FAILURES`. */
  maxFailures: number;
  /** Failed logins of one username, from every client, before 429 (>= maxFailures): `LOGIN_MAX_FAILURES_PER_USER`. */
  maxFailuresPerUser: number;
  /** Window in which failures are counted, and the lockout length: `LOGIN_FAILURE_WINDOW_SECONDS`. */
  failureWindowSeconds: number;
  /** A (username, IP) that logged in is exempt from the per-user limit this long: `LOGIN_KNOWN_CLIENT_SECONDS`. */
  knownClientSeconds: number;
  /** scrypt N for new password hashes (a power of two): `PASSWORD_SCRYPT_COST`. */
  scryptCost: number;
  /** Password hashes running at once per process: `PASSWORD_HASH_CONCURRENCY`. */
  hashConcurrency: number;
  /** Logins/registrations that may wait for a hash slot; more get 503: `PASSWORD_HASH_QUEUE`. */
  hashQueue: number;
  /** Longest wait for a hash slot, counted from the request's arrival, before 503: `PASSWORD_HASH_QUEUE_MS`. */
  hashQueueMs: number;
}

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level: `LOG_LEVEL`. */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service: `REDIS_KEY_PREFIX`. */
  keyPrefix: string;
  /** PostgreSQL, the source of truth for users: the `DATABASE_*` variables. */
  database: DatabaseConfig;
  session: SessionSettings;
  login: LoginSettings;
  /** Origins besides the service's own allowed to send state-changing requests: `ALLOWED_ORIGINS`. */
  allowedOrigins: string[];
  /** Which proxies' X-Forwarded-For to believe for the client IP: `TRUST_PROXY`. */
  trustProxy: TrustProxy;
}

function sessionSecretsOf(env: Env): string[] {
  if (env.SESSION_SECRET === undefined || env.SESSION_SECRET.trim() === '') {
    if (env.NODE_ENV === 'development') return [DEVELOPMENT_SECRET];
    throw new ConfigError(
      'SESSION_SECRET',
      `SESSION_SECRET is required when NODE_ENV is "${env.NODE_ENV}" (a comma list of secrets of at least 32 characters)`,
    );
  }
  let secrets: string[];
  try {
    secrets = parseSessionSecrets(env.SESSION_SECRET);
  } catch (error) {
    throw new ConfigError('SESSION_SECRET', (error as Error).message);
  }
  // Outside development, no cookie anybody holding this repository can sign is accepted.
  const published = secrets.findIndex((secret) => PUBLISHED_SECRETS.has(secret));
  if (env.NODE_ENV !== 'development' && published >= 0) {
    throw new ConfigError(
      'SESSION_SECRET',
      `SESSION_SECRET: secret #${published + 1} is the development secret published with this code, refused when NODE_ENV is "${env.NODE_ENV}" (generate one: openssl rand -base64 48)`,
    );
  }
  return secrets;
}

/**
 * Production implies Secure cookies, so a session id does not cross plain HTTP unless the
 * operator says so explicitly (the k8s dev overlay does: its ingress speaks plain HTTP).
 */
function cookieSecureOf(env: Env): boolean {
  return env.COOKIE_SECURE ?? env.NODE_ENV === 'production';
}

export function configFromEnv(env: Env): AppConfig {
  if (env.SESSION_MAX_SECONDS < env.SESSION_IDLE_SECONDS) {
    throw new ConfigError(
      'SESSION_MAX_SECONDS',
      'SESSION_MAX_SECONDS must be at least SESSION_IDLE_SECONDS',
    );
  }
  const { allowedOrigins, trustProxy } = browserPolicyOf(env);
  if (env.LOGIN_MAX_FAILURES_PER_USER < env.LOGIN_MAX_FAILURES) {
    throw new ConfigError(
      'LOGIN_MAX_FAILURES_PER_USER',
      'LOGIN_MAX_FAILURES_PER_USER must be at least LOGIN_MAX_FAILURES',
    );
  }
  try {
    scryptParams(env.PASSWORD_SCRYPT_COST);
  } catch (error) {
    throw new ConfigError('PASSWORD_SCRYPT_COST', (error as Error).message);
  }
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'auth-session'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    database: databaseConfigOf(env),
    session: {
      secrets: sessionSecretsOf(env),
      cookieName: env.SESSION_COOKIE_NAME,
      cookieSecure: cookieSecureOf(env),
      idleSeconds: env.SESSION_IDLE_SECONDS,
      maxSeconds: env.SESSION_MAX_SECONDS,
    },
    login: {
      maxFailures: env.LOGIN_MAX_FAILURES,
      maxFailuresPerUser: env.LOGIN_MAX_FAILURES_PER_USER,
      failureWindowSeconds: env.LOGIN_FAILURE_WINDOW_SECONDS,
      knownClientSeconds: env.LOGIN_KNOWN_CLIENT_SECONDS,
      scryptCost: env.PASSWORD_SCRYPT_COST,
      hashConcurrency: env.PASSWORD_HASH_CONCURRENCY ?? Math.min(4, availableParallelism()),
      hashQueue: env.PASSWORD_HASH_QUEUE,
      hashQueueMs: env.PASSWORD_HASH_QUEUE_MS,
    },
    allowedOrigins,
    trustProxy,
  };
}
