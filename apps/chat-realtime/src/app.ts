import { join } from 'node:path';
import {
  createService,
  postgresPlugin,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import { registerChat } from './chat/chat-server';
import type { AppConfig } from './config';
import messagesRoutes from './routes/messages';
import pageRoutes from './routes/page';

/** Builds chat-realtime from a config object: the skeleton, its Redis, Socket.IO, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'chat-realtime',
    description:
      'Socket.IO rooms across replicas through the Redis adapter, losing no acknowledged message.',
    logLevel: config.logLevel,
  });
  try {
    await registerRedis(app, { config: config.redis, readiness: 'required' });
    if (config.database) {
      await app.register(postgresPlugin, {
        url: config.database.url,
        poolSize: config.database.poolSize,
        statementTimeoutMs: config.database.statementTimeoutMs,
        migrationsDir: join(__dirname, '..', 'migrations'),
        // Every send waits for its commit: without PostgreSQL nothing can be acknowledged.
        critical: true,
      });
    }
    await registerChat(app, config);
    await app.register(messagesRoutes, config.chat);
    await app.register(pageRoutes);
    await app.ready();
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }
  return app;
}
