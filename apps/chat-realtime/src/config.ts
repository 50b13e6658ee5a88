import { Type, type Static } from '@sinclair/typebox';
import { commonEnv, redisEnv, redisConfigOf } from '@redis-patterns/service-kit';
import type { RedisConfig } from '@redis-patterns/redis-core';

/** Every variable chat-realtime reads, with its default; `server.ts` validates the environment against it. */
export const envSchema = Type.Object({
  ...commonEnv(3005),
  ...redisEnv('chat'),
});
export type Env = Static<typeof envSchema>;

/** What `buildApp` needs; tests build it directly. */
export interface AppConfig {
  /** Pino level. @default 'info' */
  logLevel: string;
  redis: RedisConfig;
  /** Prefix of every Redis key of this service. @default 'chat' */
  keyPrefix: string;
}

export function configFromEnv(env: Env): AppConfig {
  return {
    logLevel: env.LOG_LEVEL,
    redis: redisConfigOf(env, 'chat-realtime'),
    keyPrefix: env.REDIS_KEY_PREFIX,
  };
}
