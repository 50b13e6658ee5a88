import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Pool, type PoolConfig } from 'pg';

declare module 'fastify' {
  interface FastifyInstance {
    pg: Pool;
  }
}

export interface PostgresOptions {
  /** postgres:// URL. */
  url: string;
  /** @default 10 */
  poolSize?: number;
  /** Server-side limit per statement, so a stalled query cannot pin a request. @default 5000 */
  statementTimeoutMs?: number;
  /** How long to wait for a connection. @default 2000 */
  connectTimeoutMs?: number;
  /** Folder of `NNN-name.sql` migrations to apply at boot. */
  migrationsDir?: string;
  /** Readiness follows PostgreSQL. @default true */
  critical?: boolean;
}

export function createPool(options: PostgresOptions): Pool {
  const config: PoolConfig = {
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    statement_timeout: options.statementTimeoutMs ?? 5000,
    query_timeout: (options.statementTimeoutMs ?? 5000) + 1000,
    idleTimeoutMillis: 30000,
  };
  const pool = new Pool(config);
  // An idle client whose server went away emits here; without a listener it would crash the process.
  pool.on('error', () => {});
  return pool;
}

// Any constant works; it only has to be the same for every replica of every service.
const MIGRATION_LOCK = 7_311_001;

/**
 * Applies the `*.sql` files of `dir` in name order, each once, in a transaction. Replicas that
 * boot together serialize on a PostgreSQL advisory lock, so each migration runs exactly once.
 */
export async function runMigrations(
  pool: Pool,
  dir: string,
  table = 'schema_migrations',
): Promise<string[]> {
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ name: string }>(`SELECT name FROM ${table}`)).rows.map(
        (row) => row.name,
      ),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      await client.query('BEGIN');
      try {
        await client.query(readFileSync(join(dir, file), 'utf8'));
        await client.query(`INSERT INTO ${table} (name) VALUES ($1)`, [file]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(error as Error).message}`);
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return applied;
}

async function postgresPlugin(app: FastifyInstance, options: PostgresOptions): Promise<void> {
  const pool = createPool(options);
  try {
    await pool.query('SELECT 1');
    if (options.migrationsDir) {
      const applied = await runMigrations(pool, options.migrationsDir);
      if (applied.length) app.log.info({ applied }, 'migrations applied');
    }
  } catch (error) {
    await pool.end().catch(() => {});
    const where = new URL(options.url);
    throw new Error(
      `Cannot use PostgreSQL at ${where.host}${where.pathname}: ${(error as Error).message}`,
    );
  }
  app.decorate('pg', pool);
  app.health.addCheck(
    'postgres',
    async () => {
      await pool.query('SELECT 1');
      return true;
    },
    { critical: options.critical ?? true },
  );
  app.addHook('onClose', async () => pool.end());
}

/** Decorates `pg` (a pool), runs migrations at boot, adds the readiness check, ends the pool on close. */
export default fp(postgresPlugin, {
  name: '@redis-patterns/postgres',
  fastify: '5.x',
  dependencies: ['@redis-patterns/health'],
});
