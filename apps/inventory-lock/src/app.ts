import { join } from 'node:path';
import {
  buildService,
  registerPostgres,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import holdsPlugin from './holds/holds-plugin';
import inventoryPlugin from './inventory/inventory-plugin';
import lockPlugin from './lock/lock-plugin';
import { inventoryRoutes } from './routes/inventory-routes';
import { orderRoutes } from './routes/order-routes';

/**
 * Builds inventory-lock from a config object: the skeleton, its Redis and PostgreSQL, the fenced
 * lock, the inventory and holds, their routes. A failed build closes everything it opened.
 */
export function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const service = {
    name: 'inventory-lock',
    description: 'Redlock-guarded stock reservations with fencing tokens: replicas never oversell.',
    logLevel: config.logLevel,
  };
  return buildService(service, async (app) => {
    await registerRedis(app, { config: config.redis, readiness: 'required' });
    await registerPostgres(app, config.database, {
      migrationsDir: join(__dirname, '..', 'migrations'),
    });
    await app.register(lockPlugin, { config });
    await app.register(inventoryPlugin, { config });
    await app.register(holdsPlugin, { config });
    await app.register(inventoryRoutes, { testHooks: config.testHooks });
    await app.register(orderRoutes, { testHooks: config.testHooks });
  });
}
