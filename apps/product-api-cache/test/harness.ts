import {
  startPostgres,
  startRedis,
  startReplicas,
  uniquePrefix,
  type PostgresServer,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import { createPool } from '@redis-patterns/service-kit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { join } from 'node:path';
import { runMigrations } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import { defaultCacheConfig, type AppConfig, type CacheConfig } from '../src/config';
import { seedCatalogue } from '../src/catalog/seed-catalogue';

/** Real servers for one test file: a fault-capable Redis, PostgreSQL, one seeded database. */
export interface Servers {
  redis: RedisServer;
  postgres: PostgresServer;
  databaseUrl: string;
  /** A pool on the test database, for checks that go around the service. */
  pool: ReturnType<typeof createPool>;
  stop(): Promise<void>;
}

export const SEEDED = 300;

export async function startServers(options: { postgresFaults?: boolean } = {}): Promise<Servers> {
  const [redis, postgres] = await Promise.all([
    startRedis({ faults: true }),
    startPostgres({ faults: options.postgresFaults ?? false }),
  ]);
  const databaseUrl = await postgres.createDatabase();
  const pool = createPool({ url: databaseUrl, poolSize: 2 });
  await runMigrations(pool, join(__dirname, '..', 'migrations'));
  await seedCatalogue(pool, SEEDED);
  return {
    redis,
    postgres,
    databaseUrl,
    pool,
    stop: async () => {
      await pool.end().catch(() => {});
      await Promise.allSettled([redis.stop(), postgres.stop()]);
    },
  };
}

export function appConfig(servers: Servers, cache: Partial<CacheConfig> = {}): AppConfig {
  return {
    logLevel: 'silent',
    redis: { url: servers.redis.url, commandTimeoutMs: 500 },
    keyPrefix: uniquePrefix('pac'),
    database: { url: servers.databaseUrl, poolSize: 10, statementTimeoutMs: 1000 },
    cache: defaultCacheConfig(cache),
  };
}

/** n replicas sharing one key prefix (one cache), as behind a load balancer. */
export function startCluster(
  n: number,
  servers: Servers,
  cache: Partial<CacheConfig> = {},
): Promise<Replicas<ServiceInstance>> {
  const config = appConfig(servers, cache);
  return startReplicas(n, () => buildApp(config));
}

/** Sum of `db_queries_total{query}` over the replicas: what reached PostgreSQL. */
export async function dbQueries(apps: ServiceInstance[], query: string): Promise<number> {
  let total = 0;
  for (const app of apps) {
    const metric = app.prom.registry.getSingleMetric('db_queries_total');
    const data = metric ? await metric.get() : { values: [] };
    for (const value of data.values) if (value.labels.query === query) total += value.value;
  }
  return total;
}

export interface Answer {
  status: number;
  cache: string | null;
  etag: string | null;
  body: unknown;
  ms: number;
}

export async function request(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body:
      init.body === undefined
        ? undefined
        : typeof init.body === 'string'
          ? init.body
          : JSON.stringify(init.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    cache: response.headers.get('x-cache'),
    etag: response.headers.get('etag'),
    body: text ? (JSON.parse(text) as unknown) : null,
    ms: performance.now() - started,
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A valid body for POST / PUT. */
export function productInput(sku: string, overrides: Record<string, unknown> = {}) {
  return {
    sku,
    name: `Product ${sku}`,
    description: 'made in a test',
    priceCents: 1234,
    category: 'testing',
    ...overrides,
  };
}
