import { join } from 'node:path';
import {
  buildService,
  registerPostgres,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import { chatPlugin } from './chat/chat-server';
import type { AppConfig } from './config';
import { messagesRoutes } from './routes/messages-routes';
import { pageRoutes } from './routes/page-routes';

/** Builds chat-realtime from a config object: the skeleton, its Redis, Socket.IO, its routes. */
export function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const service = {
    name: 'chat-realtime',
    description:
      'Socket.IO rooms across replicas through the Redis adapter, losing no acknowledged message.',
    logLevel: config.logLevel,
  };
  return buildService(service, async (app) => {
    await registerRedis(app, { config: config.redis, readiness: 'required' });
    if (config.database) {
      await registerPostgres(app, config.database, {
        migrationsDir: join(__dirname, '..', 'migrations'),
        // Every send waits for its commit: without PostgreSQL nothing can be acknowledged.
        critical: true,
      });
    }
    // Socket.IO on the instance's HTTP server, the stores decorated as `app.messages`.
    await app.register(chatPlugin, { config });
    await app.register(messagesRoutes, config.chat);
    await app.register(pageRoutes);
    await app.ready();
  });
}
