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
import { HoldService } from './holds/hold-service';
import { HoldStore } from './holds/hold-store';
import { HoldSweeper } from './holds/hold-sweeper';
import { FencedLock } from './lock/fenced-lock';
import { registerInventoryRoutes } from './routes/inventory-routes';
import { registerOrderRoutes } from './routes/order-routes';

declare module 'fastify' {
  interface FastifyInstance {
    /** This replica's expiry sweep; tests call `sweep()` to run one now. */
    holdSweeper: HoldSweeper;
  }
}

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
            refusedMasters: app.prom.gauge({
              name: 'redlock_masters_refused',
              help: 'Redlock masters found unfit on their latest (re)connect (Cluster node, replica, replicated or Sentinel-managed): they get no vote',
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
      await lock.inspect();
    } catch (error) {
      await app.close();
      throw error;
    }
    app.health.addCheck('redlock-quorum', () => lock.healthy());
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

  const clock = config.clock ?? Date.now;
  const holdStore = new HoldStore(app.pg);
  const holds = new HoldService(holdStore, service, lock, config.strategy, config.holds, clock, {
    holds: app.prom.counter({
      name: 'holds_total',
      help: 'Hold requests by result (created, repeated, insufficient, not_found, conflict, lock_failed, fenced, error)',
      labelNames: ['result'],
    }),
    settled: app.prom.counter({
      name: 'holds_settled_total',
      help: 'Holds that left held, by the state this replica moved them to (confirmed, cancelled, expired)',
      labelNames: ['status'],
    }),
  });
  const sweeper = new HoldSweeper(holdStore, holds, clock, config.holds.sweepIntervalMs, app.log);
  app.decorate('holdSweeper', sweeper);
  app.addHook('onReady', async () => sweeper.start());
  // A sweep cut short by the pool ending is only logged: its holds stay due for the next one.
  app.addHook('onClose', async () => sweeper.stop());
  registerOrderRoutes(app, { holds, testHooks: config.testHooks });
  return app;
}
