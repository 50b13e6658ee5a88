import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { AppConfig } from '../config';
import { CACHE_PLUGIN } from './cache-plugin';
import { OutboxInvalidator } from './outbox-invalidator';

declare module 'fastify' {
  interface FastifyInstance {
    /** The database-fed invalidation, when the cache and the outbox are on. */
    outboxInvalidator: OutboxInvalidator | undefined;
  }
}

export const OUTBOX_PLUGIN = 'product-api-cache-outbox';

export interface OutboxPluginOptions {
  config: AppConfig;
}

/** Committed database changes (the `cache_outbox` table) turned into evictions, by one replica at a time. */
const outboxPlugin: FastifyPluginAsync<OutboxPluginOptions> = async (app, { config }) => {
  if (!config.cache.enabled || !config.cache.outboxEnabled) {
    app.decorate('outboxInvalidator', undefined);
    return;
  }
  const cache = app.productCache;
  const lag = app.prom.histogram({
    name: 'cache_outbox_lag_seconds',
    help: 'From the commit of a database change to the start of its eviction (outbox leader)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  const invalidator = new OutboxInvalidator({
    pool: app.pg,
    cacheName: config.keyPrefix,
    invalidate: (groups) => cache.invalidate(groups),
    invalidateEverything: () => cache.invalidateEverything(),
    pollMs: config.cache.outboxPollMs,
    batchSize: config.cache.outboxBatchSize,
    retentionMs: config.cache.outboxRetentionMs,
    onLag: (seconds) => lag.observe(seconds),
    log: app.log,
  });
  app.prom.gauge({
    name: 'cache_outbox_leader',
    help: '1 while this replica holds the outbox lease and turns database changes into evictions',
    collect() {
      this.set(invalidator.status.leader ? 1 : 0);
    },
  });
  // Before serving: the cursor exists before any read of this cache can be filled.
  await invalidator.start();
  // Before the pool ends (onClose): its leader connection goes back first, lock released.
  app.addHook('preClose', async () => invalidator.close());
  app.decorate('outboxInvalidator', invalidator);
};

export default fp(outboxPlugin, {
  name: OUTBOX_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/postgres', CACHE_PLUGIN],
});
