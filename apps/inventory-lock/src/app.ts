import { join } from 'node:path';
import {
  createService,
  registerRedis,
  postgresPlugin,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';

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
  return app;
}
