import { join } from 'node:path';
import { createKeyBuilder } from '@redis-patterns/redis-core';
import {
  createService,
  registerRedis,
  postgresPlugin,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import { InventoryService } from './inventory/inventory-service';
import { InventoryStore } from './inventory/inventory-store';
import { FencedLock } from './lock/fenced-lock';
import { registerInventoryRoutes } from './routes/inventory-routes';

/** Builds inventory-lock from a config object: the skeleton, its Redis and PostgreSQL, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'inventory-lock',
    description: 'Redlock-guarded stock reservations with fencing tokens: replicas never oversell.',
    logLevel: config.logLevel,
  });
  await registerRedis(app, { config: config.redis, readiness: 'required' });
  await app.register(postgresPlugin, {
    url: config.database.url,
    poolSize: config.database.poolSize,
    statementTimeoutMs: config.database.statementTimeoutMs,
    migrationsDir: join(__dirname, '..', 'migrations'),
  });

  const lockBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const lock =
    config.strategy === 'redlock'
      ? new FencedLock(
          config.lock,
          createKeyBuilder(config.keyPrefix),
          {
            acquireSeconds: app.prom.histogram({
              name: 'lock_acquire_seconds',
              help: 'Time to acquire a sku lock (including retries), by result',
              labelNames: ['result'],
              buckets: lockBuckets,
            }),
            acquireTotal: app.prom.counter({
              name: 'lock_acquire_total',
              help: 'Lock acquisitions by result: acquired, contended (budget spent), unavailable (no quorum)',
              labelNames: ['result'],
            }),
          },
          app.log,
          config.redis.connectTimeoutMs,
        )
      : undefined;
  if (lock) {
    app.addHook('onClose', async () => lock.close());
    try {
      await lock.ready(5000);
    } catch (error) {
      await app.close();
      throw error;
    }
    app.health.addCheck('redlock-quorum', () => lock.healthy(config.lock.commandTimeoutMs * 2));
  }

  const service = new InventoryService(
    new InventoryStore(app.pg),
    lock,
    config.strategy,
    {
      reservations: app.prom.counter({
        name: 'reservations_total',
        help: 'Reservation requests by result (created, repeated, insufficient, not_found, conflict, lock_failed, fenced, error)',
        labelNames: ['result'],
      }),
      fencingRejections: app.prom.counter({
        name: 'fencing_rejections_total',
        help: 'Writes PostgreSQL refused because a later lock holder had stamped the row',
      }),
    },
    app.log,
  );
  registerInventoryRoutes(app, { service, testHooks: config.testHooks });
  return app;
}
