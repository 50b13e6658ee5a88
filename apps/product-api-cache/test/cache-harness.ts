import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
  type RedisConfig,
} from '@redis-patterns/redis-core';
import {
  httpCall,
  until,
  log,
  perFileFixture,
  startPostgres,
  startReplicas,
  startTopology,
  topologiesUnderTest,
  uniquePrefix,
  type PostgresServer,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  type TopologyKind,
} from '@redis-patterns/testkit';
import { createPool, runMigrations, type ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import {
  defaultCacheConfig,
  type AppConfig,
  type CacheConfig,
  type ReadinessMode,
} from '../src/config';
import { seedCatalogue } from '../src/catalog/seed-catalogue';

export { log };

/** A product as the API answers it (the fields the tests read). */
export interface Product {
  id: number;
  sku: string;
  name: string;
  description: string;
  category: string;
  priceCents: number;
  updatedAt: string;
}

/** A page of `GET /products?category=`. */
export interface Page {
  items: Product[];
  nextCursor: string | null;
}

/** One Redis topology and a direct client, for tests that need no PostgreSQL. */
export interface RedisServers {
  readonly kind: TopologyKind;
  readonly topology: RedisTopology;
  /** What every replica connects with (the topology plus timeouts). */
  readonly redis: RedisConfig;
  /** A client of the test's own on the same topology. */
  readonly client: RedisClient;
  stop(): Promise<void>;
}

/**
 * Real servers for one `describe.each` block: one Redis topology, one seeded database on the
 * file's PostgreSQL, and a direct client for checks that go around the service.
 */
export interface Servers extends RedisServers {
  readonly postgres: PostgresServer;
  readonly databaseUrl: string;
  /** A pool on the test database, for checks that go around the service. */
  readonly pool: ReturnType<typeof createPool>;
}

export const SEEDED = 300;

/**
 * Standalone keeps the 500 ms the outage tests measure against; with replicas every write also
 * waits for one (80% of the timeout), which 2 shared cores need more room for.
 */
export function commandTimeoutMs(kind: TopologyKind): number {
  return kind === 'standalone' ? 500 : 1000;
}

/**
 * The file's PostgreSQL: one server shared by every topology block (each gets a database),
 * stopped after the file even when its start failed.
 */
export function postgresPerFile(options: { faults?: boolean } = {}): () => PostgresServer {
  return perFileFixture(async (cleanup) => {
    const postgres = await startPostgres({ faults: options.faults ?? false });
    cleanup(() => postgres.stop());
    return postgres;
  });
}

export interface TopologyChoice {
  /** Sentinel down-after / Cluster node timeout. @default 1000 */
  failureDetectionMs?: number;
}

export async function startRedisServers(
  kind: TopologyKind,
  options: TopologyChoice = {},
): Promise<RedisServers> {
  const topology = await startTopology(kind, { failureDetectionMs: options.failureDetectionMs });
  const redis: RedisConfig = { ...topology.config, commandTimeoutMs: commandTimeoutMs(kind) };
  const client = createRedis({ ...redis, connectionName: 'pac-test' });
  client.on('error', () => {});
  try {
    await waitForReady(client, 10_000);
  } catch (error) {
    client.disconnect();
    await topology.stop();
    throw error;
  }
  return {
    kind,
    topology,
    redis,
    client,
    stop: async () => {
      await closeRedis(client);
      await topology.stop();
    },
  };
}

export async function startServers(
  kind: TopologyKind,
  postgres: PostgresServer,
  options: TopologyChoice = {},
): Promise<Servers> {
  const [redisServers, databaseUrl] = await Promise.all([
    startRedisServers(kind, options),
    postgres.createDatabase(),
  ]);
  const pool = createPool({ url: databaseUrl, poolSize: 2 });
  try {
    await runMigrations(pool, join(__dirname, '..', 'migrations'));
    await seedCatalogue(pool, SEEDED);
  } catch (error) {
    await pool.end().catch(() => {});
    await redisServers.stop();
    throw error;
  }
  return {
    ...redisServers,
    postgres,
    databaseUrl,
    pool,
    stop: async () => {
      await pool.end().catch(() => {});
      await redisServers.stop();
    },
  };
}

/** A Redis topology and a seeded database for the enclosing `describe` block, stopped after it. */
export function serversPerBlock(
  kind: TopologyKind,
  postgres: () => PostgresServer,
  options: TopologyChoice = {},
): () => Servers {
  return perFileFixture(async (cleanup) => {
    const servers = await startServers(kind, postgres(), options);
    cleanup(() => servers.stop());
    return servers;
  });
}

/** What `describeOnEveryTopology` hands each block. */
export interface TopologyBlock {
  kind: TopologyKind;
  /** This block's Redis topology and seeded database. */
  servers: () => Servers;
  /** The file's PostgreSQL. */
  postgres: () => PostgresServer;
}

/**
 * One PostgreSQL for the file, then `describe.each` over the topologies under test, each block
 * with its own Redis topology and database: the setup every cross-topology suite shares.
 */
export function describeOnEveryTopology(
  title: string,
  options: { faults?: boolean },
  body: (block: TopologyBlock) => void,
): void {
  const postgres = postgresPerFile(options);
  describe.each(topologiesUnderTest())(title, (kind) =>
    body({ kind, servers: serversPerBlock(kind, postgres), postgres }),
  );
}

/** `n` replicas of the service for the enclosing `describe` block, closed after it. */
export function servicePerBlock(
  n: number,
  servers: () => Servers,
  cache: Partial<CacheConfig> = {},
  options: ServiceOptions = {},
): () => Replicas<ServiceInstance> {
  return perFileFixture(async (cleanup) => {
    const replicas = await startService(n, servers(), cache, options);
    cleanup(() => replicas.close());
    return replicas;
  });
}

/** Everything one standalone test file runs against. */
export interface StandaloneStack {
  postgres: PostgresServer;
  servers: Servers;
  replicas: Replicas<ServiceInstance>;
}

/**
 * PostgreSQL, a standalone Redis and `n` replicas for a whole file, stopped after it in the
 * reverse order (replicas first), even when a start failed.
 */
export function standalonePerFile(
  n: number,
  cache: Partial<CacheConfig> = {},
  options: { faults?: boolean } = {},
): () => StandaloneStack {
  return perFileFixture(async (cleanup) => {
    const postgres = await startPostgres({ faults: options.faults ?? false });
    cleanup(() => postgres.stop());
    const servers = await startServers('standalone', postgres);
    cleanup(() => servers.stop());
    const replicas = await startService(n, servers, cache);
    cleanup(() => replicas.close());
    return { postgres, servers, replicas };
  });
}

/** The standalone server of a standalone topology (the outage tests pause and kill it). */
export function standaloneServer(servers: Servers): RedisServer {
  if (servers.kind !== 'standalone') throw new Error('only a standalone topology has one server');
  return servers.topology.servers[0];
}

export interface ServiceOptions {
  /** The replicas' shared key prefix. @default a fresh one */
  keyPrefix?: string;
  /** @default 'either' */
  readiness?: ReadinessMode;
}

export interface TestConfigOptions extends ServiceOptions {
  /** The cache settings that differ from the defaults of `envSchema`. */
  cache?: Partial<CacheConfig>;
  /** The replica's number, in its connection names. @default 0 */
  replica?: number;
}

/** The one config of a replica under test: the servers, a fresh prefix, the defaults, `overrides`. */
export function testConfig(servers: Servers, overrides: TestConfigOptions = {}): AppConfig {
  const keyPrefix = overrides.keyPrefix ?? uniquePrefix('pac');
  return {
    logLevel: 'silent',
    // Each replica names its connections (`<prefix>:r<i>`), so a test finds them in CLIENT LIST.
    redis: { ...servers.redis, connectionName: `${keyPrefix}:r${overrides.replica ?? 0}` },
    keyPrefix,
    database: { url: servers.databaseUrl, poolSize: 10, statementTimeoutMs: 1000 },
    cache: defaultCacheConfig(overrides.cache),
    readiness: overrides.readiness ?? 'either',
  };
}

/** n replicas sharing one key prefix (one cache), as behind a load balancer. */
export function startService(
  n: number,
  servers: Servers,
  cache: Partial<CacheConfig> = {},
  options: ServiceOptions = {},
): Promise<Replicas<ServiceInstance>> {
  const keyPrefix = options.keyPrefix ?? uniquePrefix('pac');
  return startReplicas(n, (replica) =>
    buildApp(testConfig(servers, { ...options, cache, keyPrefix, replica })),
  );
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

/** One admin command on one data node, on a short-lived connection. */
export async function onNode(node: { host: string; port: number }, ...args: string[]) {
  const admin = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  admin.on('error', () => {});
  try {
    await admin.connect();
    return await admin.call(args[0], ...args.slice(1));
  } finally {
    admin.disconnect();
  }
}

export interface ClientConnection {
  node: RedisServer;
  id: string;
  name: string;
}

/**
 * Every connection whose CLIENT LIST name matches, on every reachable data node. On a Cluster
 * the subscriber of a client named `x` is `ioredis-cluster(subscriber):x`.
 */
export async function connectionsNamed(
  servers: RedisServers,
  matches: (name: string) => boolean,
): Promise<ClientConnection[]> {
  const found: ClientConnection[] = [];
  for (const node of servers.topology.servers) {
    let text: string;
    try {
      text = String(await onNode(node, 'CLIENT', 'LIST'));
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n')) {
      const fields = Object.fromEntries(
        line
          .split(' ')
          .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      );
      if (fields.name && matches(fields.name)) {
        found.push({ node, id: fields.id, name: fields.name });
      }
    }
  }
  return found;
}

/**
 * The subscribed connection of the client named `name` (on a Cluster, ioredis' dedicated
 * subscriber connection, not the client's connections to every node).
 */
export function subscriberConnections(
  servers: RedisServers,
  name: string,
): Promise<ClientConnection[]> {
  const wanted = servers.kind === 'cluster' ? `ioredis-cluster(subscriber):${name}` : name;
  return connectionsNamed(servers, (candidate) => candidate === wanted);
}

/** Closes the connections server-side (CLIENT KILL), as a network blip would. */
export async function killConnections(connections: ClientConnection[]): Promise<void> {
  for (const { node, id } of connections) await onNode(node, 'CLIENT', 'KILL', 'ID', id);
}

/** An answer of the service, with the cache's own headers picked out. */
export interface Answer<B = unknown> {
  status: number;
  cache: string | null;
  etag: string | null;
  /** Every response header, lower-case names. */
  headers: Record<string, string>;
  /** The parsed JSON body; null when the body is empty (a 304, a 204). */
  body: B;
  ms: number;
}

/** testkit's `httpCall` on a full URL, with `x-cache` and `etag` at hand. */
export async function cacheCall<B = unknown>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<B>> {
  const answer = await httpCall<B>(url, init.method ?? 'GET', '', {
    body: init.body,
    headers: init.headers,
  });
  return {
    status: answer.status,
    cache: answer.headers.get('x-cache'),
    etag: answer.headers.get('etag'),
    headers: Object.fromEntries(answer.headers),
    body: answer.text ? answer.body : (null as B),
    ms: answer.ms,
  };
}

/**
 * A slow query without a hook in the service: an open transaction holds an ACCESS EXCLUSIVE
 * lock on `products`, so every SELECT of the catalogue waits (up to the statement timeout).
 */
export async function lockProducts(servers: Servers): Promise<() => Promise<void>> {
  const client = await servers.pool.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await client.query('ROLLBACK').finally(() => client.release());
  };
}

/** Statements of the test database now waiting for the lock. */
export async function waitingOnLock(servers: Servers): Promise<number> {
  const { rows } = await servers.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return rows[0].n;
}

/** Reads each id on each replica until Redis holds it (the fill does not delay the answer). */
export async function cacheOnEveryReplica(
  replicas: Replicas<ServiceInstance>,
  ids: number[],
): Promise<void> {
  // Ten at a time: with all of them at once, a round on a busy machine outlasts a 1 s TTL.
  for (let i = 0; i < ids.length; i += 10) {
    await Promise.all(
      ids.slice(i, i + 10).map((id) =>
        until(
          `product ${id} cached`,
          async () => {
            const answers = await Promise.all(
              replicas.urls.map((url) => cacheCall(`${url}/products/${id}`)),
            );
            return answers.every((answer) => answer.cache === 'hit') || undefined;
          },
          5000,
        ),
      ),
    );
  }
}

/** `count` consecutive ids from `from`. */
export const range = (from: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => from + i);

/** The version in a product ETag `"<id>-<version>"`, or -1. */
export function versionOf(etag: string | null): number {
  const match = /^"\d+-(\d+)"$/.exec(etag ?? '');
  return match ? Number(match[1]) : -1;
}

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
