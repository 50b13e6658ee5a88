import { get, type IncomingMessage } from 'node:http';
import { Cluster, Redis } from 'ioredis';
import type { Pool } from 'pg';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
  type RedisConfig,
} from '@redis-patterns/redis-core';
import { createPool, type ServiceInstance } from '@redis-patterns/service-kit';
import {
  DeliveryCounter,
  httpCall,
  perFileFixture,
  startPostgres,
  startReplicas,
  startTopology,
  uniquePrefix,
  type PostgresServer,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  type TopologyKind,
  type HttpAnswer,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { defaultConfig, type AppConfig } from '../src/config';
import { leaderboardKeys, type LeaderboardKeys } from '../src/leaderboard/leaderboard-keys';

export const DAY = 86_400_000;
// Generous for 2 cores shared with other suites; the pause tests assert against it.
export const COMMAND_TIMEOUT_MS = 1000;
export const RETENTION = { daily: 2 * DAY, weekly: 14 * DAY, monthly: 62 * DAY, period: 2 * DAY };
export const PERIODS = ['all', 'daily', 'weekly', 'monthly'] as const;
/** Archive settings of the test replicas: look every 50 ms, archive 1 s after a period's end. */
export const ARCHIVE = { intervalMs: 50, delayMs: 1000, maxEntries: 100_000 };
/** Webhook settings of the test replicas: look every 50 ms, 1 s timeout, retry from 100 ms. */
export const WEBHOOKS = { intervalMs: 50, timeoutMs: 1000, backoffMs: 100, maxBackoffMs: 1000 };

/**
 * One embedded PostgreSQL for the whole test file (each `startLeaderboard` gets a database of
 * its own in it). Call at the top level of the file, outside `describe`.
 */
export function sharedPostgres(): () => PostgresServer {
  return perFileFixture(
    async (cleanup) => {
      const server = await startPostgres({ faults: true });
      cleanup(() => server.stop());
      return server;
    },
    { timeoutMs: 30_000 },
  );
}

/**
 * The config every test replica runs with: the service's defaults (from its env schema), fast
 * test intervals, then `overrides`, which must name the servers (`redis`, `keyPrefix`,
 * `database`).
 */
export function testConfig(
  overrides: Partial<AppConfig> & Pick<AppConfig, 'redis' | 'keyPrefix' | 'database'>,
): AppConfig {
  return {
    ...defaultConfig(),
    // e.g. LEADERBOARD_TEST_LOG=error to see why requests failed.
    logLevel: process.env.LEADERBOARD_TEST_LOG ?? 'silent',
    retentionMs: RETENTION,
    streamIntervalMs: 100,
    archive: ARCHIVE,
    webhooks: WEBHOOKS,
    // Generous: a first write builds a new board's index, slow on a loaded machine.
    rebuildWaitMs: 5000,
    commit: { maxBatch: 500, concurrency: 4 },
    ...overrides,
  };
}

/** Replicas of the service on one topology and PostgreSQL, direct clients, and their clocks. */
export interface Leaderboard {
  readonly topology: RedisTopology;
  readonly postgres: PostgresServer;
  /** A client of our own, for assertions on what Redis holds. */
  readonly client: RedisClient;
  /** A pool on the service's database, for assertions on what PostgreSQL holds. */
  readonly pg: Pool;
  readonly replicas: Replicas<ServiceInstance>;
  readonly prefix: string;
  readonly keys: LeaderboardKeys;
  /** Replica `i` round-robin. */
  url(i: number): string;
  /** The injected clock every replica reads unless `clockOf[i]` replaces it; tests move it. */
  readonly clock: { now: number };
  /** Per-replica clock overrides (a skewed or backwards clock); unset: `clock.now`. */
  readonly clockOf: Array<(() => number) | undefined>;
  close(): Promise<void>;
}

export interface LeaderboardOptions {
  postgres: PostgresServer;
  /** @default 2 */
  replicas?: number;
  /** Sentinel down-after / Cluster node timeout. @default 1000 */
  failureDetectionMs?: number;
  /** @default a fixed time, 2026-11-26T12:00:00Z, which tests move */
  clock?: 'fixed' | 'real';
}

/** Starts a topology of `kind`, replicas of the service on it and PostgreSQL, and direct clients. */
export async function startLeaderboard(
  kind: TopologyKind,
  options: LeaderboardOptions,
): Promise<Leaderboard> {
  const topology = await startTopology(kind, { failureDetectionMs: options.failureDetectionMs });
  const redis: RedisConfig = { ...topology.config, commandTimeoutMs: COMMAND_TIMEOUT_MS };
  const clock = { now: Date.parse('2026-11-26T12:00:00Z') };
  const clockOf: Array<(() => number) | undefined> = [];
  const prefix = uniquePrefix('lb');
  let client: RedisClient | undefined;
  let pg: Pool | undefined;
  try {
    const databaseUrl = await options.postgres.createDatabase();
    pg = createPool({ url: databaseUrl });
    client = createRedis(redis);
    client.on('error', () => {});
    await waitForReady(client, 10_000);
    const config = (replica: number): AppConfig =>
      testConfig({
        redis,
        keyPrefix: prefix,
        database: { url: databaseUrl, poolSize: 10, statementTimeoutMs: 2000 },
        replicaName: `replica-${replica}`,
        clock:
          options.clock === 'real'
            ? Date.now
            : () => (clockOf[replica] ? clockOf[replica]() : clock.now),
      });
    const replicas = await startReplicas(options.replicas ?? 2, (i) => buildApp(config(i)));
    const direct = client;
    const pool = pg;
    return {
      topology,
      postgres: options.postgres,
      client: direct,
      pg: pool,
      replicas,
      prefix,
      keys: leaderboardKeys(prefix),
      url: (i) => replicas.url(i),
      clock,
      clockOf,
      close: async () => {
        await replicas.close();
        await closeRedis(direct);
        // Closes ioredis's Sentinel failover-detector connections, which QUIT leaves open.
        direct.disconnect();
        await pool.end();
        await topology.stop();
      },
    };
  } catch (error) {
    if (client) client.disconnect();
    await pg?.end();
    await topology.stop();
    throw error;
  }
}

/**
 * The service on `kind` for the enclosing `describe`: started before its tests, closed after
 * them, also when its start failed halfway (`perFileFixture`). `lb()` reads it in a test.
 */
export function leaderboardFixture(
  kind: TopologyKind,
  options: Omit<LeaderboardOptions, 'postgres'> & { postgres: () => PostgresServer },
): { lb: () => Leaderboard; url: (i: number) => string } {
  const lb = perFileFixture(
    async (cleanup) => {
      const started = await startLeaderboard(kind, { ...options, postgres: options.postgres() });
      cleanup(() => started.close());
      return started;
    },
    { timeoutMs: 60_000 },
  );
  return { lb, url: (i) => lb().url(i) };
}

/** Every `[rank, playerId, score]` of a board period as the API shows it (up to 100). */
export async function standings(
  url: string,
  board: string,
  period?: string,
): Promise<Array<[number, string, number]>> {
  const query = period ? `&period=${period}` : '';
  const page = await httpCall<Reply>(url, 'GET', `/leaderboards/${board}/top?limit=100${query}`);
  if (page.status !== 200)
    throw new Error(`top of ${board}: ${page.status} ${JSON.stringify(page.body)}`);
  return page.body.entries!.map((e) => [e.rank as number, e.playerId as string, e.score as number]);
}

/** Empties every data node of the topology, as a Redis that restarted without its data. */
export async function wipeRedis(topology: RedisTopology): Promise<void> {
  for (const server of topology.servers) {
    const admin = new Redis({ host: server.host, port: server.port, lazyConnect: true });
    try {
      await admin.connect();
      const role = (await admin.call('ROLE')) as [string];
      if (role[0] === 'master') await admin.flushall();
    } finally {
      admin.disconnect();
    }
  }
}

/** Every key matching `pattern`, on every master of a Cluster. */
export async function keysMatching(client: RedisClient, pattern: string): Promise<string[]> {
  if (client instanceof Cluster) {
    const perNode = await Promise.all(client.nodes('master').map((node) => node.keys(pattern)));
    return perNode.flat();
  }
  return client.keys(pattern);
}

/** The data nodes replicating from `master` now (from its INFO replication). */
export async function replicasOf(
  topology: RedisTopology,
  master: RedisServer,
): Promise<RedisServer[]> {
  const admin = new Redis({ host: master.host, port: master.port, lazyConnect: true });
  try {
    await admin.connect();
    const text = await admin.info('replication');
    const ports = [...text.matchAll(/^slave\d+:.*port=(\d+)/gm)].map((match) => Number(match[1]));
    return topology.servers.filter((server) => ports.includes(server.port));
  } finally {
    admin.disconnect();
  }
}

/** Test-only: the JSON the service answered, read field by field. */
export type Reply = Record<string, unknown> & { entries?: Array<Record<string, unknown>> };
export type Answer = HttpAnswer<Reply>;

/** One `top` event's entries. */
export type TopEntries = Array<Record<string, unknown>>;

export interface TopEvents {
  /** Resolves once some `top` event so far satisfies `predicate`; fails after `timeoutMs`. */
  next(predicate: (entries: TopEntries) => boolean, timeoutMs?: number): Promise<void>;
  /** Every `top` event so far; `events.exactly(n)` fails on an extra one. */
  readonly events: DeliveryCounter<TopEntries>;
  /** Number of `top` events received so far. */
  count(): number;
  close(): void;
}

/** Opens an SSE stream and records each `top` event's entries as they come. */
export function openStream(url: string): Promise<TopEvents> {
  return new Promise((resolve, reject) => {
    const request = get(url, (response: IncomingMessage) => {
      if (response.statusCode !== 200) return reject(new Error(`status ${response.statusCode}`));
      const events = new DeliveryCounter<TopEntries>(`top events of ${url}`);
      const seen = events.items;
      const waiters: Array<() => void> = [];
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame);
          if (/^event: top$/m.test(frame) && data)
            events.record((JSON.parse(data[1]) as { entries: TopEntries }).entries);
        }
        waiters.splice(0).forEach((wake) => wake());
      });
      resolve({
        next: (predicate, timeoutMs = 5000) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(
              () => fail(new Error(`no matching SSE event in ${timeoutMs} ms`)),
              timeoutMs,
            );
            const check = () => {
              if (seen.some(predicate)) {
                clearTimeout(timer);
                done();
              } else waiters.push(check);
            };
            check();
          }),
        events,
        count: () => seen.length,
        close: () => request.destroy(),
      });
    });
    request.on('error', reject);
  });
}

/** Stands in for `it` where a test does not apply to a topology: registers nothing. */
export const notOnThisTopology = ((): void => undefined) as unknown as jest.It;
