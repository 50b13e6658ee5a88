import { closeRedis, createRedis, waitForReady } from '@redis-patterns/redis-core';
import { createPool, loadConfig, redisConfigOf, runMigrations } from '@redis-patterns/service-kit';
import { join } from 'node:path';
import { configFromEnv, seedEnvSchema } from './config';
import { IndexRebuilder } from './leaderboard/index-rebuild';
import { leaderboardKeys } from './leaderboard/leaderboard-keys';
import { seedBoard } from './leaderboard/seed-board';

/**
 * `node dist/seed.js [players] [board]`: writes synthetic players into PostgreSQL, then rebuilds
 * the board's Redis index from them, printing both times (arguments override SEED_*).
 */
async function main(): Promise<void> {
  const env = loadConfig(seedEnvSchema);
  const players = Number(process.argv[2] ?? env.SEED_PLAYERS);
  const board = process.argv[3] ?? env.SEED_BOARD;
  if (!Number.isSafeInteger(players) || players < 1) {
    throw new Error(`players must be a positive integer, got "${process.argv[2]}"`);
  }
  if (!/^[a-z0-9_-]{1,64}$/.test(board)) {
    throw new Error(`board must be 1..64 of [a-z0-9_-], got "${board}"`);
  }
  const config = configFromEnv(env);
  const pg = createPool({ url: config.database.url, statementTimeoutMs: 120_000 });
  // One rebuild batch carries 1,000 inserts: give it longer than a request's command timeout.
  const redis = createRedis({
    ...redisConfigOf(env, 'game-leaderboard:seed'),
    commandTimeoutMs: Math.max(env.REDIS_COMMAND_TIMEOUT_MS, 30_000),
  });
  try {
    await runMigrations(pg, join(__dirname, '..', 'migrations'));
    await waitForReady(redis, env.REDIS_CONNECT_TIMEOUT_MS + 1000);
    const keys = leaderboardKeys(config.keyPrefix);
    const started = Date.now();
    await seedBoard(pg, { board, players, nowMs: started, retentionMs: config.retentionMs });
    const seeded = Date.now();
    await redis.del(keys.meta(board));
    const rebuilder = new IndexRebuilder({
      redis,
      pg,
      keys,
      retention: config.retentionMs,
      clock: Date.now,
      log: { info: () => {}, warn: (...args: unknown[]) => console.error(...args) },
      waitMs: 3_600_000,
      lockTtlMs: 60_000,
    });
    await rebuilder.ensure(board, false);
    process.stdout.write(
      `seeded ${players} players on board ${board} (all-time and current periods) into PostgreSQL in ${seeded - started} ms; Redis index rebuilt in ${Date.now() - seeded} ms\n`,
    );
  } finally {
    await closeRedis(redis);
    await pg.end();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`seed failed: ${error.message}\n`);
  process.exit(1);
});
