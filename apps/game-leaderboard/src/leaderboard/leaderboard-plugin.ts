import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { hostname } from 'node:os';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import type { AppConfig } from '../config';
import { IndexRebuilder } from './index-rebuild';
import { leaderboardKeys, type LeaderboardKeys } from './leaderboard-keys';
import { LeaderboardStore } from './leaderboard-store';
import { PeriodArchiver } from './period-archiver';
import { ScoreJournal } from './score-journal';
import { TopStream } from './top-stream';
import { WebhookDispatcher } from './webhook-dispatcher';

/** The part of a prom-client counter the routes use. */
export interface LabelledCounter<Label extends string> {
  inc(labels: Record<Label, string>): void;
}

/** What the route plugins use, decorated as `app.leaderboard`. */
export interface Leaderboard {
  store: LeaderboardStore;
  stream: TopStream;
  archiver: PeriodArchiver;
  /** leaderboard_updates_total{operator} */
  updates: LabelledCounter<'operator'>;
  /** leaderboard_queries_total{kind} */
  queries: LabelledCounter<'kind'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    leaderboard: Leaderboard;
  }
}

export interface LeaderboardPluginOptions {
  config: AppConfig;
}

/** The name route plugins list in their `dependencies`. */
export const LEADERBOARD_PLUGIN = 'game-leaderboard-leaderboard';

/** The score journal, the index rebuilder and the store over them. */
function createStore(
  app: FastifyInstance,
  config: AppConfig,
  keys: LeaderboardKeys,
  clock: () => number,
): LeaderboardStore {
  const rebuilds = app.prom.counter({
    name: 'leaderboard_rebuilds_total',
    help: 'Board indexes this replica rebuilt from PostgreSQL (a first write to a new board counts)',
  });
  const rebuilder = new IndexRebuilder({
    redis: app.redis,
    pg: app.pg,
    keys,
    retention: config.retentionMs,
    clock,
    log: app.log,
    waitMs: config.rebuildWaitMs,
    onRebuilt: () => rebuilds.inc(),
  });
  // The journal reads the index epoch through the store, built just below.
  const journal: ScoreJournal | null =
    config.recordScores === false
      ? null
      : new ScoreJournal({
          pg: app.pg,
          epochOf: (board): Promise<number | null> => store.epochOf(board),
          maxBatch: config.commit.maxBatch,
          concurrency: config.commit.concurrency,
        });
  const store = new LeaderboardStore({
    redis: app.redis,
    pg: app.pg,
    keys,
    retention: config.retentionMs,
    clock,
    journal,
    rebuilder,
  });
  return store;
}

/** The background workers: the period archiver and the webhook dispatcher (not started). */
function createWorkers(
  app: FastifyInstance,
  config: AppConfig,
  clock: () => number,
): { archiver: PeriodArchiver; webhooks: WebhookDispatcher } {
  const archived = app.prom.counter({
    name: 'leaderboard_periods_archived_total',
    help: 'Ended periods this replica archived (each period is archived by exactly one replica)',
  });
  const replica = config.replicaName ?? `${hostname()}:${process.pid}`;
  const archiver = new PeriodArchiver({
    pg: app.pg,
    clock,
    log: app.log,
    replica,
    intervalMs: config.archive.intervalMs,
    delayMs: config.archive.delayMs,
    maxEntries: config.archive.maxEntries,
    onArchived: () => archived.inc(),
  });
  const webhookAttempts = app.prom.counter({
    name: 'leaderboard_webhook_attempts_total',
    help: 'Period webhook attempts of this replica, by outcome (delivered: a 2xx; failed: retried later)',
    labelNames: ['outcome'],
  });
  const webhooks = new WebhookDispatcher({
    pg: app.pg,
    log: app.log,
    replica,
    ...config.webhooks,
    onAttempt: (outcome) => webhookAttempts.inc({ outcome }),
  });
  return { archiver, webhooks };
}

/**
 * The live top 10 over its own subscribed client (a subscribed connection can run nothing
 * else), subscribed before this returns.
 */
async function startTopStream(
  app: FastifyInstance,
  config: AppConfig,
  keys: LeaderboardKeys,
  store: LeaderboardStore,
): Promise<{ stream: TopStream; subscriber: RedisClient }> {
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
  return { stream, subscriber };
}

/**
 * The leaderboard domain on the app's Redis and PostgreSQL: the store, the top stream, the
 * archiver and webhook workers (started, and stopped on close), and the route counters.
 */
async function leaderboardPlugin(
  app: FastifyInstance,
  { config }: LeaderboardPluginOptions,
): Promise<void> {
  const clock = config.clock ?? Date.now;
  const keys = leaderboardKeys(config.keyPrefix);
  const store = createStore(app, config, keys, clock);
  const { archiver, webhooks } = createWorkers(app, config, clock);
  const { stream, subscriber } = await startTopStream(app, config, keys, store);
  archiver.start();
  webhooks.start();
  app.addHook('preClose', async () => {
    stream.close();
    await Promise.all([archiver.close(), webhooks.close()]);
  });
  // QUIT leaves ioredis's Sentinel failover-detector connections reconnecting (every 60 s,
  // forever); disconnect() after it closes them. Both clients: the plugin's QUIT is the same.
  app.addHook('onClose', async () => {
    for (const client of [subscriber, app.redis]) {
      await closeRedis(client);
      client.disconnect();
    }
  });
  app.decorate<Leaderboard>('leaderboard', {
    store,
    stream,
    archiver,
    updates: app.prom.counter({
      name: 'leaderboard_updates_total',
      help: 'Accepted score submissions, by operator',
      labelNames: ['operator'],
    }),
    queries: app.prom.counter({
      name: 'leaderboard_queries_total',
      help: 'Leaderboard reads, by kind (top, rank, around, ranks, stream, periods)',
      labelNames: ['kind'],
    }),
  });
}

export default fp(leaderboardPlugin, {
  name: LEADERBOARD_PLUGIN,
  fastify: '5.x',
  dependencies: ['@redis-patterns/redis', '@redis-patterns/postgres'],
});
