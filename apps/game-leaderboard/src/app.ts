import { closeRedis, createRedis, waitForReady } from '@redis-patterns/redis-core';
import { createService, registerRedis, type ServiceInstance } from '@redis-patterns/service-kit';
import type { AppConfig } from './config';
import { leaderboardKeys } from './leaderboard/leaderboard-keys';
import { LeaderboardStore } from './leaderboard/leaderboard-store';
import { TopStream } from './leaderboard/top-stream';
import leaderboardRoutes from './routes/leaderboard-routes';

/** Builds game-leaderboard from a config object: the skeleton, its Redis, its routes. */
export async function buildApp(config: AppConfig): Promise<ServiceInstance> {
  const app = await createService({
    name: 'game-leaderboard',
    description:
      'Sorted-set leaderboards: top N, rank, around-me and periods for millions of players.',
    logLevel: config.logLevel,
  });
  await registerRedis(app, { config: config.redis, readiness: 'required' });

  const clock = config.clock ?? Date.now;
  const keys = leaderboardKeys(config.keyPrefix);
  const store = new LeaderboardStore({
    redis: app.redis,
    keys,
    retentionMs: config.retentionMs,
    tieEpochMs: config.tieEpochMs,
    clock,
  });

  // A subscribed connection can run nothing else, so the stream gets its own client.
  const subscriber = createRedis({
    ...config.redis,
    connectionName: `${config.redis.connectionName ?? 'game-leaderboard'}:subscriber`,
  });
  subscriber.on('error', (error: Error) => app.log.debug({ err: error }, 'redis subscriber error'));
  const stream = new TopStream({
    subscriber,
    channel: keys.changes,
    intervalMs: config.streamIntervalMs,
    readTop: async (board, period) => (await store.top(board, period, 10, 0)).entries,
    log: app.log,
  });
  try {
    await waitForReady(subscriber, 5000);
    await stream.start();
  } catch (error) {
    subscriber.disconnect();
    throw new Error(`Cannot subscribe to Redis: ${(error as Error).message}`);
  }
  app.health.addCheck('redis-subscriber', () => subscriber.status === 'ready', {
    critical: false,
  });
  app.addHook('preClose', async () => stream.close());
  app.addHook('onClose', async () => closeRedis(subscriber));

  await app.register(leaderboardRoutes, {
    store,
    stream,
    updates: app.prom.counter({
      name: 'leaderboard_updates_total',
      help: 'Accepted score submissions, by mode',
      labelNames: ['mode'],
    }),
    queries: app.prom.counter({
      name: 'leaderboard_queries_total',
      help: 'Leaderboard reads, by kind (top, rank, around, ranks, stream)',
      labelNames: ['kind'],
    }),
  });
  return app;
}
