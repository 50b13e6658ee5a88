import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { closeRedis, createRedis, pingRedis, waitForReady, type RedisClient } from './create-redis';
import { describeRedis, type RedisConfig } from './redis-config';

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient;
    /** True when Redis answers now (`required`) or has been ready once (`startup`). */
    redisHealthy(): Promise<boolean>;
  }
}

export interface RedisPluginOptions {
  /** Connection settings; ignored when `client` is given. */
  config?: RedisConfig;
  /** An existing client; the plugin then neither creates nor quits it. */
  client?: RedisClient;
  /** How long boot waits for `ready` before failing. @default 5000 */
  bootTimeoutMs?: number;
  /**
   * `required`: readiness follows Redis (PING within `healthTimeoutMs`), for services that cannot
   * work without it. `startup`: ready once Redis has been ready, for fail-open services.
   * @default 'required'
   */
  readiness?: 'required' | 'startup';
  /** Deadline of the readiness PING. @default 500 */
  healthTimeoutMs?: number;
}

async function redisPlugin(fastify: FastifyInstance, options: RedisPluginOptions): Promise<void> {
  const owned = !options.client;
  const client = options.client ?? createRedis(options.config);
  const where = options.config ? describeRedis(options.config) : 'injected client';
  let seenReady = client.status === 'ready';
  let lastError = '';
  client.on('ready', () => {
    seenReady = true;
    fastify.log.info({ redis: where }, 'redis ready');
  });
  client.on('error', (error: Error) => {
    // ioredis emits an error per failed reconnect; log changes only, not every retry.
    if (error.message !== lastError) fastify.log.warn({ err: error, redis: where }, 'redis error');
    lastError = error.message;
  });

  try {
    await waitForReady(client, options.bootTimeoutMs ?? 5000);
  } catch (error) {
    if (owned) client.disconnect();
    throw new Error(`Cannot reach Redis (${where}): ${(error as Error).message}`);
  }

  const mode = options.readiness ?? 'required';
  const timeout = options.healthTimeoutMs ?? 500;
  fastify.decorate<RedisClient>('redis', client);
  fastify.decorate('redisHealthy', async () =>
    mode === 'startup' ? seenReady : pingRedis(client, timeout),
  );
  if (owned) fastify.addHook('onClose', async () => closeRedis(client));
}

/** Decorates the instance with `redis`, fails boot when Redis is unreachable, quits on close. */
export default fp(redisPlugin, { name: '@redis-patterns/redis', fastify: '5.x' });
