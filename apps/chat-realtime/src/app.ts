import { createService, registerRedis, type ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from './config';

/** Builds chat-realtime from a config object: the skeleton, its Redis, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'chat-realtime',
    description:
      'Socket.IO rooms across replicas through the Redis adapter, losing no acknowledged message.',
    logLevel: config.logLevel,
  });
  await registerRedis(app, { config: config.redis, readiness: 'required' });
  return app;
}
