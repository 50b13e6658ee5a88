import { createService, registerRedis, type ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from './config';

/** Builds game-leaderboard from a config object: the skeleton, its Redis, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'game-leaderboard',
    description:
      'Sorted-set leaderboards: top N, rank, around-me and periods for millions of players.',
    logLevel: config.logLevel,
  });
  await registerRedis(app, { config: config.redis, readiness: 'required' });
  return app;
}
