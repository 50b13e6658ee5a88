import { join } from 'node:path';
import {
  createService,
  registerRedis,
  postgresPlugin,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';

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
  return app;
}
