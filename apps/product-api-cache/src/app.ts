import { join } from 'node:path';
import { createKeyBuilder, createRedis, type KeyBuilder } from '@redis-patterns/redis-core';
import {
  createService,
  registerRedis,
  postgresPlugin,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import { ProductStore } from './catalog/product-store';
import { EvictionChannel } from './cache/eviction-channel';
import { L1Cache } from './cache/l1-cache';
import { ReadThroughCache } from './cache/read-through-cache';
import { RedisBreaker } from './cache/redis-breaker';
import productRoutes from './routes/products';

declare module 'fastify' {
  interface FastifyInstance {
    /** The cache tiers (tests drive interleavings through it). */
    productCache: ReadThroughCache;
    /** The SQL of the catalogue. */
    productStore: ProductStore;
    cacheKeys: KeyBuilder;
  }
}

/** Builds product-api-cache from a config object: the skeleton, its Redis and PostgreSQL, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'product-api-cache',
    description:
      'Cache-aside in front of PostgreSQL: fewer database reads, faster answers, never stale after a write.',
    logLevel: config.logLevel,
  });
  await registerRedis(app, { config: config.redis, readiness: 'startup' });
  await app.register(postgresPlugin, {
    url: config.database.url,
    poolSize: config.database.poolSize,
    statementTimeoutMs: config.database.statementTimeoutMs,
    migrationsDir: join(__dirname, '..', 'migrations'),
  });

  const keys = createKeyBuilder(config.keyPrefix);
  const store = new ProductStore(
    app.pg,
    app.prom.counter({
      name: 'db_queries_total',
      help: 'SQL statements sent to PostgreSQL, by query',
      labelNames: ['query'],
    }),
  );
  const breaker = new RedisBreaker({
    errorThresholdPercentage: config.cache.breakerErrorPercent,
    resetTimeoutMs: config.cache.breakerResetMs,
  });
  let evictions: EvictionChannel | undefined;
  if (config.cache.enabled) {
    // A subscribed connection can run nothing else, so the evictions get their own client.
    const subscriber = createRedis({
      ...config.redis,
      connectionName: `${config.redis.connectionName ?? 'product-api-cache'}:evictions`,
    });
    const channel = new EvictionChannel({
      subscriber,
      publisher: app.redis,
      channel: keys.key('evictions'),
      ackTimeoutMs: config.cache.evictionAckTimeoutMs,
      log: app.log,
    });
    await channel.start(5000);
    app.health.addCheck('evictions', () => channel.live, { critical: false });
    app.addHook('onClose', async () => channel.close());
    evictions = channel;
  }
  const l1 =
    config.cache.enabled && config.cache.l1Enabled
      ? new L1Cache({ maxEntries: config.cache.l1MaxEntries, ttlMs: config.cache.l1TtlMs })
      : undefined;
  const cache = new ReadThroughCache({
    redis: app.redis,
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
  app.decorate('productStore', store);
  app.decorate('cacheKeys', keys);

  await app.register(productRoutes, {
    cache,
    store,
    keys,
    cacheRequests: app.prom.counter({
      name: 'cache_requests_total',
      help: 'Cached reads (one product or one page), by where the answer came from',
      labelNames: ['result'],
    }),
  });
  return app;
}
