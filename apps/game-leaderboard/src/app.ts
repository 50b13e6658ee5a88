import { join } from 'node:path';
import {
  buildService,
  registerPostgres,
  registerRedis,
  type ServiceInstance,
} from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import leaderboardPlugin from './leaderboard/leaderboard-plugin';
import { boardsRoutes } from './routes/boards-routes';
import { periodsRoutes } from './routes/periods-routes';
import { playersRoutes } from './routes/players-routes';
import { ranksRoutes } from './routes/ranks-routes';
import { scoresRoutes } from './routes/scores-routes';
import { streamRoutes } from './routes/stream-routes';

/** Builds game-leaderboard from a config object: the skeleton, its Redis and PostgreSQL, its routes. */
export function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const service = {
    name: 'game-leaderboard',
    description:
      'Sorted-set leaderboards: top N, rank, around-me and periods for millions of players.',
    logLevel: config.logLevel,
  };
  return buildService(service, async (app) => {
    await registerRedis(app, { config: config.redis, readiness: 'required' });
    await registerPostgres(app, config.database, {
      migrationsDir: join(__dirname, '..', 'migrations'),
      // Reads are served from Redis alone: with PostgreSQL away only writes (and rebuilds) fail.
      critical: false,
    });
    // The store, the top stream and the period workers, decorated as `app.leaderboard`.
    await app.register(leaderboardPlugin, { config });
    await app.register(boardsRoutes);
    await app.register(periodsRoutes);
    await app.register(scoresRoutes);
    await app.register(ranksRoutes);
    await app.register(playersRoutes);
    await app.register(streamRoutes);
  });
}
