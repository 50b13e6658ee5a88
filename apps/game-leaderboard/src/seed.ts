import { closeRedis, createRedis, waitForReady } from '@redis-patterns/redis-core';
import { loadConfig, redisConfigOf } from '@redis-patterns/service-kit';
import { configFromEnv, seedEnvSchema } from './config';
import { leaderboardKeys } from './leaderboard/leaderboard-keys';
import { seedBoard } from './leaderboard/seed-board';

/** `node dist/seed.js [players] [board]`: loads synthetic players (arguments override SEED_*). */
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
  // One pipeline carries 50,000 inserts: give it longer than a request's command timeout.
  const redis = createRedis({
    ...redisConfigOf(env, 'game-leaderboard:seed'),
    commandTimeoutMs: Math.max(env.REDIS_COMMAND_TIMEOUT_MS, 30_000),
  });
  try {
    await waitForReady(redis, env.REDIS_CONNECT_TIMEOUT_MS + 1000);
    const started = Date.now();
    await seedBoard(redis, leaderboardKeys(config.keyPrefix), {
      board,
      players,
      nowMs: started,
      tieEpochMs: config.tieEpochMs,
      retentionMs: config.retentionMs,
    });
    process.stdout.write(
      `seeded ${players} players on board ${board} (all-time and current periods) in ${Date.now() - started} ms\n`,
    );
  } finally {
    await closeRedis(redis);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`seed failed: ${error.message}\n`);
  process.exit(1);
});
