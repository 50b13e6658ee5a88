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
  log,
  startPostgres,
  startReplicas,
  startTopology,
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

/** The file's PostgreSQL: one server shared by every topology block (each gets a database). */
export function startFilePostgres(options: { faults?: boolean } = {}): Promise<PostgresServer> {
  return startPostgres({ faults: options.faults ?? false });
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

export function appConfig(
  servers: Servers,
  cache: Partial<CacheConfig> = {},
  options: ServiceOptions & { replica?: number } = {},
): AppConfig {
  const keyPrefix = options.keyPrefix ?? uniquePrefix('pac');
  return {
    logLevel: 'silent',
    // Each replica names its connections (`<prefix>:r<i>`), so a test finds them in CLIENT LIST.
    redis: { ...servers.redis, connectionName: `${keyPrefix}:r${options.replica ?? 0}` },
    keyPrefix,
    database: { url: servers.databaseUrl, poolSize: 10, statementTimeoutMs: 1000 },
    cache: defaultCacheConfig(cache),
    readiness: options.readiness ?? 'either',
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
    buildApp(appConfig(servers, cache, { ...options, keyPrefix, replica })),
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

export interface Answer {
  status: number;
  cache: string | null;
  etag: string | null;
  /** Every response header, lower-case names. */
  headers: Record<string, string>;
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
    headers: Object.fromEntries(response.headers),
    body: text ? (JSON.parse(text) as unknown) : null,
    ms: performance.now() - started,
  };
}

/** The version in a product ETag `"<id>-<version>"`, or -1. */
export function versionOf(etag: string | null): number {
  const match = /^"\d+-(\d+)"$/.exec(etag ?? '');
  return match ? Number(match[1]) : -1;
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
