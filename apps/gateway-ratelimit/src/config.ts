import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { commonEnv, ConfigError, redisEnv, redisConfigOf } from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';
import { DEFAULT_POLICIES, parsePolicies, type PolicySet } from './rate-limit/rate-limit-policy';
import { parseUpstreamList } from './proxy/upstream-pool';

const upstreamList = (port: number) =>
  Type.String({ minLength: 1, default: `http://127.0.0.1:${port}` });

/** Every variable gateway-ratelimit reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3000),
  ...redisEnv('gw'),
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
  /** Deadline for an upstream's response headers (and between body chunks); past it: 504. */
  UPSTREAM_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 300000, default: 10000 }),
  /** Largest request body in bytes (Content-Length); past it: 413. */
  BODY_LIMIT: Type.Integer({ minimum: 1, maximum: 104857600, default: 1048576 }),
  /** `false`, `true` (trust every proxy) or a comma list of proxy addresses/CIDRs. */
  TRUST_PROXY: Type.String({ default: 'false' }),
  /** `false` turns rate limiting off (the proxy keeps working). */
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true }),
  /** Rate-limit policies as JSON (see README); wins over RATE_LIMIT_POLICIES_FILE. */
  RATE_LIMIT_POLICIES: Type.Optional(Type.String({ minLength: 2 })),
  /** Path of a JSON file with the rate-limit policies. */
  RATE_LIMIT_POLICIES_FILE: Type.Optional(Type.String({ minLength: 1 })),
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

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'gw' */
  keyPrefix: string;
  upstreams: UpstreamUrls;
  /** @default 10000 */
  upstreamTimeoutMs: number;
  /** @default 1048576 */
  bodyLimit: number;
  /** @default false */
  trustProxy: boolean | string;
  /** @default true */
  rateLimitEnabled: boolean;
  /** @default DEFAULT_POLICIES */
  policies: PolicySet;
}

function trustProxyOf(value: string): boolean | string {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  return value;
}

function policiesOf(env: Env): PolicySet {
  const [variable, text] = env.RATE_LIMIT_POLICIES
    ? ['RATE_LIMIT_POLICIES', env.RATE_LIMIT_POLICIES]
    : env.RATE_LIMIT_POLICIES_FILE
      ? ['RATE_LIMIT_POLICIES_FILE', readPolicyFile(env.RATE_LIMIT_POLICIES_FILE)]
      : ['', ''];
  if (!variable) return DEFAULT_POLICIES;
  try {
    return parsePolicies(JSON.parse(text));
  } catch (error) {
    throw new ConfigError(variable, `${variable} is invalid: ${(error as Error).message}`);
  }
}

function readPolicyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'RATE_LIMIT_POLICIES_FILE',
      `RATE_LIMIT_POLICIES_FILE cannot be read: ${(error as Error).message}`,
    );
  }
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

export function configFromEnv(env: Env): AppConfig {
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'gateway-ratelimit'),
    keyPrefix: env.REDIS_KEY_PREFIX,
    upstreams: upstreamsOf(env),
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    bodyLimit: env.BODY_LIMIT,
    trustProxy: trustProxyOf(env.TRUST_PROXY),
    rateLimitEnabled: env.RATE_LIMIT_ENABLED,
    policies: policiesOf(env),
  };
}
