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
  /**
   * Limit per statement: server-side, and 500 ms later client-side, so a stalled or paused server
   * turns into a 503 instead of a request that waits. @default 2000
   */
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
    statement_timeout: options.statementTimeoutMs ?? 2000,
    query_timeout: (options.statementTimeoutMs ?? 2000) + 500,
    idleTimeoutMillis: 30000,
  };
  const pool = new Pool(config);
  // An idle client whose server went away emits here; without a listener it would crash the process.
  pool.on('error', () => {});
  return pool;
}

const UNAVAILABLE_CODES = new Set([
  '57014', // query_canceled: statement_timeout
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH', // a network partition: no route to the database host
  'ENETUNREACH',
]);
const UNAVAILABLE_MESSAGES =
  /Query read timeout|timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|connection is closed/i;

/**
 * True for a PostgreSQL error that says the database is away or too slow (connection refused or
 * lost, pool or statement timeout, shutting down), as opposed to a bad query or a constraint.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08')))
    return true;
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
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
const postgres = fp(postgresPlugin, {
  name: '@redis-patterns/postgres',
  fastify: '5.x',
  dependencies: ['@redis-patterns/health'],
});
export default postgres;

/** The typed PostgreSQL settings every service's config carries, read from `databaseEnv()`. */
export interface DatabaseConfig {
  url: string;
  poolSize: number;
  statementTimeoutMs: number;
}

/** Maps the validated `DATABASE_*` variables to `DatabaseConfig`: one mapping for every service. */
export function databaseConfigOf(env: {
  DATABASE_URL: string;
  DATABASE_POOL_SIZE: number;
  DATABASE_STATEMENT_TIMEOUT_MS: number;
}): DatabaseConfig {
  return {
    url: env.DATABASE_URL,
    poolSize: env.DATABASE_POOL_SIZE,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
  };
}

/**
 * Registers the PostgreSQL plugin from a `DatabaseConfig` with the service's migrations folder:
 * the one call every service's `app.ts` makes.
 */
export async function registerPostgres(
  app: FastifyInstance,
  database: DatabaseConfig,
  options: { migrationsDir?: string; critical?: boolean } = {},
): Promise<void> {
  await app.register(postgres, {
    url: database.url,
    poolSize: database.poolSize,
    statementTimeoutMs: database.statementTimeoutMs,
    ...options,
  });
}
