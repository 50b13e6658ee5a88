import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import type { AppConfig } from '../config';
import { cacheKeys, type CacheKeys } from './cache-keys';
import { EvictionChannel } from './eviction-channel';
import { L1Cache } from './l1-cache';
import { ReadThroughCache } from './read-through-cache';
import { RedisBreaker } from './redis-breaker';

declare module 'fastify' {
  interface FastifyInstance {
    /** The cache tiers (tests drive interleavings through it). */
    productCache: ReadThroughCache;
    /** This replica's membership of the eviction registry, when the cache is on. */
    evictionChannel: EvictionChannel | undefined;
    /** Every Redis key and channel of the service. */
    cacheKeys: CacheKeys;
  }
}

/** The name route plugins list in their `dependencies`. */
export const CACHE_PLUGIN = 'product-api-cache-cache';

export interface CachePluginOptions {
  config: AppConfig;
}

/**
 * WAIT (acknowledged writes) holds the connection it is sent on: reads must not queue behind
 * it, so invalidations and registrations get a client of their own.
 */
async function openWriter(app: FastifyInstance, config: AppConfig): Promise<RedisClient> {
  const acknowledged = createRedis({
    ...config.redis,
    connectionName: `${config.redis.connectionName ?? 'product-api-cache'}:writes`,
  });
  acknowledged.on('error', (error: Error) =>
    app.log.debug({ err: error }, 'redis write connection error'),
  );
  app.addHook('onClose', async () => closeRedis(acknowledged));
  await waitForReady(acknowledged, 5000).catch((error: unknown) =>
    app.log.warn({ err: error }, 'write connection not ready yet'),
  );
  return acknowledged;
}

/** This replica's membership of the eviction registry, started (or retrying in the background). */
async function joinEvictions(
  app: FastifyInstance,
  config: AppConfig,
  keys: CacheKeys,
  writer: RedisClient,
): Promise<EvictionChannel> {
  // A subscribed connection can run nothing else, so the evictions get their own client.
  const subscriber = createRedis({
    ...config.redis,
    connectionName: `${config.redis.connectionName ?? 'product-api-cache'}:evictions`,
  });
  const channel = new EvictionChannel({
    subscriber,
    publisher: app.redis,
    writer,
    keys,
    ackTimeoutMs: config.cache.evictionAckTimeoutMs,
    heartbeatMs: config.cache.memberHeartbeatMs,
    memberTtlMs: config.cache.memberTtlMs,
    log: app.log,
  });
  await channel.start(5000);
  app.health.addCheck('evictions', () => channel.live, { critical: false });
  // Before the Redis client closes: leaving the registry spares the writers the wait for
  // this replica's registration to lapse.
  app.addHook('preClose', async () => channel.close());
  return channel;
}

/** The cache tiers over Redis: breaker, eviction registry, L1, read-through cache. */
const cachePlugin: FastifyPluginAsync<CachePluginOptions> = async (app, { config }) => {
  const keys = cacheKeys(config.keyPrefix);
  const breaker = new RedisBreaker({
    errorThresholdPercentage: config.cache.breakerErrorPercent,
    resetTimeoutMs: config.cache.breakerResetMs,
  });
  let evictions: EvictionChannel | undefined;
  let writer: RedisClient | undefined;
  if (config.cache.enabled) {
    writer = await openWriter(app, config);
    evictions = await joinEvictions(app, config, keys, writer);
  }
  const l1 =
    config.cache.enabled && config.cache.l1Enabled
      ? new L1Cache({ maxEntries: config.cache.l1MaxEntries, ttlMs: config.cache.l1TtlMs })
      : undefined;
  const cache = new ReadThroughCache({
    redis: app.redis,
    writer,
    keys,
    config: config.cache,
    breaker,
    evictions,
    l1,
    log: app.log,
  });
  app.addHook('onClose', async () => {
    cache.close();
    breaker.shutdown();
  });
  app.decorate('productCache', cache);
  app.decorate('evictionChannel', evictions);
  app.decorate('cacheKeys', keys);
};

export default fp(cachePlugin, {
  name: CACHE_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/redis'],
});
