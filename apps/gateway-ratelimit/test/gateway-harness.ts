import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Redis } from 'ioredis';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import type {
  RedisServer,
  RedisTopology,
  Replicas,
  TopologyRedisConfig,
} from '@redis-patterns/testkit';
import {
  httpCall,
  inParallel,
  perFileFixture,
  startReplicas,
  startTopology,
  uniquePrefix,
  type HttpAnswer,
  type TopologyKind,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { defaultConfig, type AppConfig, type UpstreamUrls } from '../src/config';
import { clientIdentity } from '../src/rate-limit/client-identity';
import { limitKeys, rateLimitKeyBuilder } from '../src/rate-limit/rate-limit-keys';
import { decideLimits } from '../src/rate-limit/rate-limit-scripts';
import {
  parsePolicies,
  type Algorithm,
  type RoutePolicy,
} from '../src/rate-limit/rate-limit-policy';

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

export interface TestConfigOverrides extends Partial<Omit<AppConfig, 'redis'>> {
  /** A standalone URL, a topology's `config`, or a full Redis config. */
  redis: string | TopologyRedisConfig | AppConfig['redis'];
}

/**
 * A gateway config for tests: `defaultConfig()` (every envSchema default) with silent logs,
 * `redis` with a 300 ms command timeout unless it names one, a 1 s upstream deadline, a 64 KiB
 * body limit, every proxy trusted (tests name their client by X-Forwarded-For), the admin port
 * on a free port of 127.0.0.1, one default policy of 100 per minute, then `overrides`. Tests
 * always pass `keyPrefix` and `upstreams` too (the defaults name the dev ports).
 */
export function testConfig({ redis, ...overrides }: TestConfigOverrides): AppConfig {
  return {
    ...defaultConfig(),
    // GW_TEST_LOG=warn shows the gateways' own logs (breaker states, Redis errors) in a run.
    logLevel: process.env.GW_TEST_LOG ?? 'silent',
    // Not merged with the default Redis config: that names the machine's own Redis on 6379.
    redis: { commandTimeoutMs: 300, ...(typeof redis === 'string' ? { url: redis } : redis) },
    admin: { host: '127.0.0.1', port: 0 },
    upstreamTimeoutMs: 1000,
    bodyLimit: 64 * 1024,
    trustProxy: true,
    policies: parsePolicies({}),
    ...overrides,
  };
}

/** The base URL of a gateway's admin port (`/metrics`, `/docs`; never proxied). */
export function adminUrl(app: ServiceInstance): string {
  const address = app.adminServer.address() as AddressInfo | null;
  if (!address) throw new Error('the admin port is not listening (is the app ready?)');
  return `http://127.0.0.1:${address.port}`;
}

/** The text of a gateway's own `/metrics`, from its admin port. */
export async function gatewayMetrics(app: ServiceInstance): Promise<string> {
  return (await httpCall(adminUrl(app), 'GET', '/metrics')).text;
}

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

// The algorithm suites (exact-algorithms, shadow-mode, concurrency-leases): one route per
// algorithm and option, each with limits of its own.

const HOUR = 3_600_000;
export const SLIDING_WINDOW_MS = 10_000;
export const LEASE_MS = 2000;
export const ALGORITHM_POLICY_DOCUMENT = {
  default: { limit: 1_000_000, windowMs: HOUR },
  routes: [
    {
      name: 'fixed',
      path: '/api/inventory/fixed',
      limit: 50,
      windowMs: HOUR,
      algorithm: 'fixed-window',
    },
    {
      name: 'sliding',
      path: '/api/inventory/sliding',
      limit: 50,
      windowMs: HOUR,
      algorithm: 'sliding-window',
    },
    {
      name: 'sliding-edge',
      path: '/api/inventory/sliding-edge',
      limit: 40,
      windowMs: SLIDING_WINDOW_MS,
      algorithm: 'sliding-window',
    },
    { name: 'burst', path: '/api/inventory/burst', limit: 10, windowMs: HOUR, burst: 30 },
    {
      name: 'two-limits',
      path: '/api/inventory/two',
      limits: [
        { limit: 5, windowMs: HOUR, algorithm: 'fixed-window' },
        { limit: 100, windowMs: HOUR, algorithm: 'fixed-window' },
      ],
    },
    { name: 'costly', path: '/api/inventory/costly', cost: 10, limit: 100, windowMs: HOUR },
    {
      name: 'in-flight',
      path: '/api/products/*',
      limit: 3,
      algorithm: 'concurrency',
      leaseMs: LEASE_MS,
    },
    { name: 'shadowed', path: '/api/inventory/shadow', mode: 'shadow', limit: 5, windowMs: HOUR },
  ],
} as const;
const algorithmPolicies = parsePolicies(ALGORITHM_POLICY_DOCUMENT);
/** The route policy of the algorithm suites named `name`. */
export const algorithmRoute = (name: string) =>
  algorithmPolicies.routes.find((r) => r.name === name) as RoutePolicy;

/**
 * Three gateway replicas with the algorithm policies on a fresh topology of `kind`, for one test
 * file (call it inside its `describe`), with the helpers its tests share.
 */
export function threeAlgorithmGateways(kind: TopologyKind) {
  const fixture = perFileFixture(async (cleanup) => {
    const topology = await startTopology(kind);
    cleanup(() => topology.stop());
    const redis = createRedis({ ...topology.config, commandTimeoutMs: 5000 });
    cleanup(() => closeClient(redis));
    await waitForReady(redis, 10000);
    const started = await startUpstreams();
    cleanup(() => Promise.all(started.all.map((u) => u.close())));
    const prefix = uniquePrefix('gw');
    const gateways = await startReplicas(3, () =>
      buildApp(
        testConfig({
          keyPrefix: prefix,
          upstreams: started.urls,
          policies: algorithmPolicies,
          redis: { ...topology.config, commandTimeoutMs: 5000 },
          upstreamTimeoutMs: 10000,
        }),
      ),
    );
    cleanup(() => closeGateways(gateways));
    return { topology, redis, prefix, upstreamUrls: started.urls, gateways };
  });
  let ipCounter = 0;
  const freshIp = () => `10.7.${Math.floor(ipCounter / 250)}.${(ipCounter++ % 250) + 1}`;
  const burst = (count: number, path: string, ip: string, concurrency = 20) =>
    inParallel(count, concurrency, (i) =>
      httpCall(fixture().gateways.url(i), 'GET', path, { headers: { 'x-forwarded-for': ip } }),
    );
  const passed = (answers: HttpAnswer[]) => answers.filter((a) => a.status === 200).length;
  const refusedAll = (answers: HttpAnswer[]) =>
    answers.every((a) => a.status === 200 || a.status === 429);
  return { fixture, freshIp, burst, passed, refusedAll };
}

// Steady load through the gateways, for the failover and fault drills.

/** One client of the load: its address, the path that selects its policy, and its fail mode. */
export interface LoadClient {
  name: string;
  ip: string;
  path: string;
  failMode: 'open' | 'closed';
}

/** One request of the load and how it was answered. */
export interface Sample {
  client: string;
  /** performance.now() at send and at the end of the body. */
  start: number;
  end: number;
  /** HTTP status, 0 when the request did not finish within the client deadline. */
  status: number;
  /** The error code of a refusal (`RATE_LIMIT_UNAVAILABLE`, ...). */
  code?: string;
  /** A decision Redis made: the answer carries `x-ratelimit-remaining`. */
  counted: boolean;
  remaining?: number;
}

/** Far past every bound the tests state: a request still open then is a hang. */
const CLIENT_DEADLINE_MS = 10000;

/**
 * Keeps `workersPerClient` request loops per client running against the gateways (round-robin)
 * until `stop()`, recording every answer.
 */
export function startLoad(gatewayUrls: string[], clients: LoadClient[], workersPerClient = 3) {
  const samples: Sample[] = [];
  let running = true;
  let turn = 0;
  const worker = async (client: LoadClient) => {
    while (running) {
      const url = gatewayUrls[turn++ % gatewayUrls.length];
      const start = performance.now();
      try {
        const answer = await httpCall<{ code?: string }>(url, 'GET', client.path, {
          headers: { 'x-forwarded-for': client.ip },
          timeoutMs: CLIENT_DEADLINE_MS,
        });
        const remaining = answer.headers.get('x-ratelimit-remaining');
        const code = answer.status >= 400 ? answer.body.code : undefined;
        samples.push({
          client: client.name,
          start,
          end: performance.now(),
          status: answer.status,
          code,
          counted: remaining !== null,
          remaining: remaining === null ? undefined : Number(remaining),
        });
      } catch {
        samples.push({
          client: client.name,
          start,
          end: performance.now(),
          status: 0,
          counted: false,
        });
      }
    }
  };
  const workers = clients.flatMap((client) =>
    Array.from({ length: workersPerClient }, () => worker(client)),
  );
  return {
    samples,
    async stop(): Promise<Sample[]> {
      running = false;
      await Promise.all(workers);
      return samples;
    },
  };
}

/** The p-quantile (0..1) of `values`. */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
