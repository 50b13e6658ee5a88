import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { commonEnv, ConfigError, redisEnv, redisConfigOf } from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import { DEFAULT_POLICIES, parsePolicies, type PolicySet } from './rate-limit/rate-limit-policy';
import { ApiKeyRegistry } from './rate-limit/api-key-registry';
import { parseUpstreamList } from './proxy/upstream-pool';

const upstreamList = (port: number) =>
  Type.String({ minLength: 1, default: `http://127.0.0.1:${port}` });

/** Every variable gateway-ratelimit reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3000),
  ...redisEnv('gw'),
  /**
   * Port of the operator surface (`/metrics`, `/docs`, the probes), bound to HOST like PORT and
   * never proxied: `/metrics` and `/docs` are refused on PORT. Unset: PORT + 1000 (0 with PORT 0).
   */
  ADMIN_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** Comma list of product-api-cache replicas, balanced round-robin. */
  PRODUCTS_URL: upstreamList(3001),
  /** Comma list of auth-session replicas. */
  AUTH_URL: upstreamList(3002),
  /** Comma list of inventory-lock replicas. */
  INVENTORY_URL: upstreamList(3003),
  /** Comma list of game-leaderboard replicas. */
  LEADERBOARD_URL: upstreamList(3004),
  /** Comma list of chat-realtime replicas (HTTP and WebSocket). */
  CHAT_URL: upstreamList(3005),
  /** Deadline for an upstream's response headers and between chunks of a sized body; past it: 504. */
  UPSTREAM_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 300000, default: 10000 }),
  /** Deadline between chunks of a streaming response (SSE, chunked): above every heartbeat. */
  STREAM_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 1000, maximum: 3600000, default: 75000 }),
  /** Largest request body in bytes (Content-Length); past it: 413. */
  BODY_LIMIT: Type.Integer({ minimum: 1, maximum: 104857600, default: 1048576 }),
  /** `false`, `true` (trust every proxy) or a comma list of proxy addresses/CIDRs. */
  TRUST_PROXY: Type.String({ default: 'false' }),
  /** `false` turns rate limiting off (the proxy keeps working). */
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true }),
  /** Rate-limit policies as JSON (see README); wins over RATE_LIMIT_POLICIES_FILE. */
  RATE_LIMIT_POLICIES: Type.Optional(Type.String({ minLength: 2 })),
  /** Path of a JSON file with the rate-limit policies, reloaded when it changes. */
  RATE_LIMIT_POLICIES_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /** Gateway replicas sharing the limits: while Redis is away each applies limit / this. */
  RATE_LIMIT_REPLICAS: Type.Integer({ minimum: 1, maximum: 10000, default: 1 }),
  /** How long the breaker on the limiter's Redis stays open before a background probe. */
  RATE_LIMIT_BREAKER_RESET_MS: Type.Integer({ minimum: 100, maximum: 60000, default: 1000 }),
  /** Issued API keys as JSON (`{"keys":[{"sha256":…,"consumer":…,"tier":…}]}`); wins over the file. */
  API_KEYS: Type.Optional(Type.String({ minLength: 2 })),
  /** Path of a JSON file of issued API keys (same format). */
  API_KEYS_FILE: Type.Optional(Type.String({ minLength: 1 })),
});
export type Env = Static<typeof envSchema>;

/** The upstream replicas per service; each list is balanced round-robin. */
export interface UpstreamUrls {
  products: string[];
  auth: string[];
  inventory: string[];
  leaderboard: string[];
  chat: string[];
}

/** Where the operator surface listens (see `ADMIN_PORT`). */
export interface AdminListen {
  /** `HOST`: the same address as the public port. */
  host: string;
  /** `ADMIN_PORT`; 0 picks a free one. */
  port: number;
}

/**
 * What `buildApp` needs; tests build it directly (from `defaultConfig()`). Every default is the
 * `envSchema` default of the variable named on the field, written there only.
 */
export interface AppConfig {
  /** `LOG_LEVEL`. */
  logLevel: string;
  redis: RedisConfig;
  /** `REDIS_KEY_PREFIX`: prefix of every Redis key of this service. */
  keyPrefix: string;
  /** `HOST` and `ADMIN_PORT`. */
  admin: AdminListen;
  upstreams: UpstreamUrls;
  /** `UPSTREAM_TIMEOUT_MS`. */
  upstreamTimeoutMs: number;
  /** `STREAM_IDLE_TIMEOUT_MS`. */
  streamIdleTimeoutMs: number;
  /** `BODY_LIMIT`. */
  bodyLimit: number;
  /** `TRUST_PROXY`. */
  trustProxy: boolean | string;
  /** `RATE_LIMIT_ENABLED`. */
  rateLimitEnabled: boolean;
  /** `RATE_LIMIT_POLICIES` or its file; neither: `DEFAULT_POLICIES`. */
  policies: PolicySet;
  /** Reload the policies from this file when it changes (`RATE_LIMIT_POLICIES_FILE`). */
  policiesFile?: string;
  /** `API_KEYS` or its file; neither: no key issued. */
  apiKeys: ApiKeyRegistry;
  /** `RATE_LIMIT_REPLICAS`. */
  rateLimitReplicas: number;
  /** `RATE_LIMIT_BREAKER_RESET_MS`. */
  breakerResetMs: number;
}

function trustProxyOf(value: string): boolean | string {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  return value;
}

function readConfigFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(variable, `${variable} cannot be read: ${(error as Error).message}`);
  }
}

/** The JSON of `inline` or else of the file `fileVariable` names; undefined when neither is set. */
function jsonOf(
  env: Env,
  inline: keyof Env,
  fileVariable: keyof Env,
): [string, unknown] | undefined {
  const [variable, text] = env[inline]
    ? [inline, String(env[inline])]
    : env[fileVariable]
      ? [fileVariable, readConfigFile(fileVariable, String(env[fileVariable]))]
      : ['', ''];
  if (!variable) return undefined;
  try {
    return [variable, JSON.parse(text)];
  } catch {
    throw new ConfigError(variable, `${variable} is not valid JSON`);
  }
}

function policiesOf(env: Env): PolicySet {
  const found = jsonOf(env, 'RATE_LIMIT_POLICIES', 'RATE_LIMIT_POLICIES_FILE');
  if (!found) return DEFAULT_POLICIES;
  try {
    return parsePolicies(found[1]);
  } catch (error) {
    throw new ConfigError(found[0], `${found[0]} is invalid: ${(error as Error).message}`);
  }
}

function apiKeysOf(env: Env, policies: PolicySet): ApiKeyRegistry {
  const found = jsonOf(env, 'API_KEYS', 'API_KEYS_FILE');
  if (!found) return ApiKeyRegistry.empty();
  let registry: ApiKeyRegistry;
  try {
    registry = ApiKeyRegistry.parse(found[1]);
  } catch (error) {
    throw new ConfigError(found[0], `${found[0]} is invalid: ${(error as Error).message}`);
  }
  for (const tier of registry.tiers()) {
    if (!policies.tiers.has(tier)) {
      throw new ConfigError(found[0], `${found[0]} names tier "${tier}", which the policies lack`);
    }
  }
  return registry;
}

function upstreamsOf(env: Env): UpstreamUrls {
  const list = (variable: keyof Env & `${string}_URL`) => {
    try {
      return parseUpstreamList(String(env[variable]));
    } catch (error) {
      throw new ConfigError(variable, `${variable} ${(error as Error).message}`);
    }
  };
  return {
    products: list('PRODUCTS_URL'),
    auth: list('AUTH_URL'),
    inventory: list('INVENTORY_URL'),
    leaderboard: list('LEADERBOARD_URL'),
    chat: list('CHAT_URL'),
  };
}

function adminOf(env: Env): AdminListen {
  const port = env.ADMIN_PORT ?? (env.PORT === 0 ? 0 : env.PORT + 1000);
  if (port > 65535)
    throw new ConfigError('ADMIN_PORT', `ADMIN_PORT must be set when PORT is above 64535`);
  if (port !== 0 && port === env.PORT)
    throw new ConfigError('ADMIN_PORT', 'ADMIN_PORT must differ from PORT');
  return { host: env.HOST, port };
}

export function configFromEnv(env: Env): AppConfig {
  const policies = policiesOf(env);
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'gateway-ratelimit'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    admin: adminOf(env),
    upstreams: upstreamsOf(env),
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    streamIdleTimeoutMs: env.STREAM_IDLE_TIMEOUT_MS,
    bodyLimit: env.BODY_LIMIT,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    rateLimitEnabled: env.RATE_LIMIT_ENABLED,
    policies,
    // Only a file can change under a running gateway; inline JSON wins and is fixed.
    policiesFile: env.RATE_LIMIT_POLICIES ? undefined : env.RATE_LIMIT_POLICIES_FILE,
    apiKeys: apiKeysOf(env, policies),
    rateLimitReplicas: env.RATE_LIMIT_REPLICAS,
    breakerResetMs: env.RATE_LIMIT_BREAKER_RESET_MS,
  };
}

/** The config of an environment that sets nothing: every field at its `envSchema` default. */
export function defaultConfig(): AppConfig {
  return configFromEnv(Value.Default(envSchema, {}) as Env);
}
