import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Redis } from 'ioredis';
import { closeRedis, type RedisClient } from '@redis-patterns/redis-core';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import type {
  RedisServer,
  RedisTopology,
  Replicas,
  TopologyRedisConfig,
} from '@redis-patterns/testkit';
import type { AppConfig, UpstreamUrls } from '../src/config';
import { clientIdentity } from '../src/rate-limit/client-identity';
import { limitKeys, rateLimitKeyBuilder } from '../src/rate-limit/rate-limit-keys';
import { decideLimits } from '../src/rate-limit/rate-limit-scripts';
import { parsePolicies, type Algorithm } from '../src/rate-limit/rate-limit-policy';

/** What the echo upstream answers: who served it and what it received. */
export interface Echo {
  service: string;
  replica: number;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP (and WebSocket echo) upstream on a free port of 127.0.0.1. */
export interface Upstream {
  url: string;
  close(): Promise<void>;
}

/**
 * An upstream that echoes each request as JSON; `/slow` answers after 3 s, `/hold` after 20 s,
 * `/cookies` sets two
 * cookies, and WebSocket messages are echoed back prefixed with the service name.
 */
export async function startUpstream(service: string, replica = 0): Promise<Upstream> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const echo: Echo = {
        service,
        replica,
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const send = () => {
        if (request.url?.endsWith('/cookies')) {
          response.setHeader('set-cookie', ['a=1; HttpOnly', 'b=2; Path=/']);
        }
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(echo));
      };
      if (request.url?.endsWith('/slow')) setTimeout(send, 3000).unref();
      else if (request.url?.endsWith('/hold')) setTimeout(send, 20000).unref();
      else send();
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, request) => {
    socket.on('message', (data) => socket.send(`${service}:${request.url}:${String(data)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One upstream per service (products gets `productReplicas`). */
export async function startUpstreams(productReplicas = 1): Promise<{
  urls: UpstreamUrls;
  all: Upstream[];
}> {
  const products = await Promise.all(
    Array.from({ length: productReplicas }, (_, i) => startUpstream('products', i)),
  );
  const [auth, inventory, leaderboard, chat] = await Promise.all(
    ['auth', 'inventory', 'leaderboard', 'chat'].map((name) => startUpstream(name)),
  );
  return {
    urls: {
      products: products.map((p) => p.url),
      auth: [auth.url],
      inventory: [inventory.url],
      leaderboard: [leaderboard.url],
      chat: [chat.url],
    },
    all: [...products, auth, inventory, leaderboard, chat],
  };
}

/** A gateway config for tests; `redis` is a standalone URL or a topology's `config`. */
export function testConfig(
  redis: string | TopologyRedisConfig,
  keyPrefix: string,
  upstreams: UpstreamUrls,
  overrides: Partial<AppConfig> = {},
): AppConfig {
  return {
    // GW_TEST_LOG=warn shows the gateways' own logs (breaker states, Redis errors) in a run.
    logLevel: process.env.GW_TEST_LOG ?? 'silent',
    redis: { ...(typeof redis === 'string' ? { url: redis } : redis), commandTimeoutMs: 300 },
    keyPrefix,
    upstreams,
    upstreamTimeoutMs: 1000,
    bodyLimit: 64 * 1024,
    trustProxy: true,
    rateLimitEnabled: true,
    policies: parsePolicies({}),
    ...overrides,
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

/** One request with fetch; the body is read as text. */
export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(url, init);
  const body = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body,
    ms: performance.now() - started,
  };
}

/** Runs `count` tasks with at most `concurrency` at a time. */
export async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next;
        next += 1;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The Redis key of the counter of a one-limit policy for `ip` (the gateway's own key builder). */
export function limiterKey(prefix: string, algorithm: Algorithm, policy: string, ip: string) {
  const [key] = limitKeys(
    rateLimitKeyBuilder(prefix),
    {
      ...parsePolicies({ default: { limit: 1, windowMs: 1000, algorithm } }).default,
      name: policy,
    },
    [clientIdentity(undefined, ip)],
  );
  return key;
}

/**
 * `count` client addresses from `make(n)` whose counters (`keysOf(ip)`) all live on one master:
 * the master `on` when given, else a different master for each address when the topology has
 * several (a Cluster's three), so that one test exercises every shard.
 */
export async function pickAddresses(
  topology: RedisTopology,
  count: number,
  make: (n: number) => string,
  keysOf: (ip: string) => string[],
  on?: RedisServer,
): Promise<{ ip: string; master: RedisServer }[]> {
  const chosen: { ip: string; master: RedisServer }[] = [];
  for (let n = 0; chosen.length < count; n += 1) {
    if (n > 500) throw new Error(`found no ${count} fitting addresses in 500`);
    const ip = make(n);
    const masters = await Promise.all(keysOf(ip).map((key) => topology.master(key)));
    if (masters.some((master) => master !== masters[0])) continue;
    const fits = on
      ? masters[0] === on
      : topology.kind !== 'cluster' || chosen.every((c) => c.master !== masters[0]);
    if (fits) chosen.push({ ip, master: masters[0] });
  }
  return chosen;
}

/** One admin command to one data node, on its own short-lived connection. */
export async function adminCommand(
  server: { host: string; port: number },
  ...args: (string | number)[]
): Promise<unknown> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    lazyConnect: true,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    client.disconnect();
  }
}

/** The data nodes that are masters now (standalone: the server; Cluster: three). */
export async function mastersOf(topology: RedisTopology): Promise<RedisServer[]> {
  const roles = await Promise.all(
    topology.servers.map(async (server) => ((await adminCommand(server, 'ROLE')) as string[])[0]),
  );
  return topology.servers.filter((_, i) => roles[i] === 'master');
}

/**
 * ioredis' Sentinel failover detector keeps its Sentinel subscribers (and their reconnect timers)
 * after the QUIT that redis-core's `closeRedis` sends; only `disconnect()` ends them.
 */
function endSentinelLeftovers(client: RedisClient): void {
  if (client instanceof Redis && client.options.sentinels?.length) client.disconnect();
}

/** Closes a client, Sentinel leftovers included. */
export async function closeClient(client: RedisClient | undefined): Promise<void> {
  if (!client) return;
  await closeRedis(client);
  endSentinelLeftovers(client);
}

/** Closes gateway replicas, Sentinel leftovers of their Redis clients included. */
export async function closeGateways(gateways: Replicas<ServiceInstance> | undefined) {
  if (!gateways) return;
  await gateways.close();
  for (const app of gateways.apps) endSentinelLeftovers(app.redis);
}

/**
 * One GCRA decision through the gateway's script, as `[allowed 1|0, remaining, retryAfterMs,
 * resetMs]` (what the scripts tests and fault drills probe with).
 */
export async function gcraDecide(
  client: RedisClient,
  key: string,
  limit: number,
  windowMs: number,
): Promise<[number, number, number, number]> {
  const gcra = parsePolicies({ default: { limit, windowMs } }).default.limits[0];
  const { allowed, limits } = await decideLimits(client, [
    { key, limit: gcra, cost: 1, member: '' },
  ]);
  const [outcome] = limits;
  return [allowed ? 1 : 0, outcome.remaining, outcome.retryAfterMs, outcome.resetMs];
}
