import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { AppConfig } from '../config';
import { FencedLock } from './fenced-lock';
import { lockKeys } from './lock-keys';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redlock masters' fenced lock; null unless `strategy` is `redlock`. */
    fencedLock: FencedLock | null;
  }
}

export const LOCK_PLUGIN = 'inventory-lock-lock';

const LOCK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The fenced lock over the Redlock masters, its metrics and its readiness check (a quorum of
 * probe-lock votes). Boot fails, with every client closed, when no quorum connects in 5 s or a
 * master is unfit (`FencedLock.inspect`).
 */
async function lockPlugin(app: FastifyInstance, { config }: { config: AppConfig }): Promise<void> {
  if (config.strategy !== 'redlock') {
    app.decorate('fencedLock', null);
    return;
  }
  const lock = new FencedLock(
    config.lock,
    lockKeys(config.keyPrefix),
    {
      acquireSeconds: app.prom.histogram({
        name: 'lock_acquire_seconds',
        help: 'Time to acquire a sku lock (including retries), by result',
        labelNames: ['result'],
        buckets: LOCK_BUCKETS,
      }),
      acquireTotal: app.prom.counter({
        name: 'lock_acquire_total',
        help: 'Lock acquisitions by result: acquired, contended (budget spent), unavailable (no quorum)',
        labelNames: ['result'],
      }),
      refusedMasters: app.prom.gauge({
        name: 'redlock_masters_refused',
        help: 'Redlock masters found unfit on their latest (re)connect (Cluster node, replica, replicated or Sentinel-managed): they get no vote',
      }),
    },
    app.log,
    config.redis.connectTimeoutMs,
  );
  try {
    await lock.ready(5000);
    await lock.inspect();
  } catch (error) {
    await lock.close();
    throw error;
  }
  app.addHook('onClose', async () => lock.close());
  app.health.addCheck('redlock-quorum', () => lock.healthy());
  app.decorate('fencedLock', lock);
}

export default fp(lockPlugin, {
  name: LOCK_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/metrics', '@redis-patterns/health'],
});
