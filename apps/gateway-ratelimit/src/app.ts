import { createService, registerRedis, type ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from './config';

/** Builds gateway-ratelimit from a config object: the skeleton, its Redis, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'gateway-ratelimit',
    description:
      'The API gateway: proxies to every service with per-client rate limits that hold across all replicas.',
    logLevel: config.logLevel,
  });
  await registerRedis(app, { config: config.redis, readiness: 'startup' });
  return app;
}
