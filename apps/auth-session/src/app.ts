import { join } from 'node:path';
import {
  createService,
  registerRedis,
  postgresPlugin,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';

/** Builds auth-session from a config object: the skeleton, its Redis and PostgreSQL, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'auth-session',
    description: 'Login sessions shared by every replica, revocable, fixation-safe.',
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
