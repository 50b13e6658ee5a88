import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { createPool, databaseEnv, loadConfig, runMigrations } from '@redis-patterns/service-kit';
import { seedCatalogue } from './catalog/seed-catalogue';

const SEED_COUNT = 10_000;

/** `npm run seed`: migrations, then the 10,000 seed products into DATABASE_URL (idempotent). */
async function main(): Promise<void> {
  const env = loadConfig(Type.Object(databaseEnv()));
  const pool = createPool({ url: env.DATABASE_URL, poolSize: 2, statementTimeoutMs: 60_000 });
  try {
    const applied = await runMigrations(pool, join(__dirname, '..', 'migrations'));
    const inserted = await seedCatalogue(pool, SEED_COUNT);
    process.stdout.write(
      `product-api-cache seed: ${applied.length} migration(s) applied, ${inserted} of ${SEED_COUNT} products inserted\n`,
    );
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`product-api-cache seed failed: ${(error as Error).message}\n`);
  process.exit(1);
});
