import {
  redisConfigFromEnv,
  redisPlugin,
  type RedisConfig,
  type RedisEnv,
} from '@redis-patterns/redis-core';
import type { FastifyInstance } from 'fastify';

export interface ServiceRedisOptions {
  config: RedisConfig;
  /**
   * `required`: readiness 503 while Redis does not answer. `startup`: ready once Redis has
   * been ready, for fail-open services that keep serving through an outage.
   */
  readiness: 'required' | 'startup';
  /** @default 5000 */
  bootTimeoutMs?: number;
}

/** Registers the Redis plugin and its readiness check. */
export async function registerRedis(
  app: FastifyInstance,
  options: ServiceRedisOptions,
): Promise<void> {
  await app.register(redisPlugin, {
    config: options.config,
    readiness: options.readiness,
    bootTimeoutMs: options.bootTimeoutMs,
  });
  app.health.addCheck('redis', () => app.redisHealthy(), { critical: true });
}

/** `RedisConfig` from a loaded config object that has the standard variables. */
export function redisConfigOf(
  env: RedisEnv & { SERVICE_NAME?: string },
  connectionName?: string,
): RedisConfig {
  return { ...redisConfigFromEnv(env), connectionName };
}
