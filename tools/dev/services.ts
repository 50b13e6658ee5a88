// Every service of the local system, its DESIGN port and database, and what it is started with
// on this machine: the one table `npm start`, the end-to-end suite, the drills and the README
// checks read service names and ports from.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { freePort, type RedisServer } from '@redis-patterns/testkit';

export interface ServiceInfo {
  name: string;
  /** The DESIGN port of replica #0 (replica #i listens on port + 10 * i with fixed ports). */
  port: number;
  /** Its PostgreSQL database (the service gets its URL as `DATABASE_URL`). */
  database?: string;
  /** The gateway's variable that lists this service's replicas. */
  upstreamVariable?: string;
  /** Variables it gets on this machine only. */
  localEnv?: Record<string, string>;
}

/** The API key `npm start` issues (consumer `dev`, the default policy). Never deployed. */
export const DEV_API_KEY = 'dev-local-key-0000000001';

/** The gateway's key registry on this machine: `DEV_API_KEY`, by its SHA-256 digest only. */
export const DEV_API_KEYS = {
  keys: [{ sha256: createHash('sha256').update(DEV_API_KEY).digest('hex'), consumer: 'dev' }],
};

/**
 * Every service of the system and its port: in start order, the gateway last (it needs the
 * others' URLs). The one table tools read service names, ports and databases from.
 */
export const SERVICES: readonly ServiceInfo[] = [
  {
    name: 'product-api-cache',
    port: 3001,
    database: 'rp_products',
    upstreamVariable: 'PRODUCTS_URL',
  },
  {
    name: 'auth-session',
    port: 3002,
    database: 'rp_auth',
    upstreamVariable: 'AUTH_URL',
    // Behind the gateway on this machine: X-Forwarded-* from loopback name the real client,
    // so lockout keys, Origin checks and cookies see what the browser sent.
    localEnv: { TRUST_PROXY: 'loopback' },
  },
  {
    name: 'inventory-lock',
    port: 3003,
    database: 'rp_inventory',
    upstreamVariable: 'INVENTORY_URL',
  },
  {
    name: 'game-leaderboard',
    port: 3004,
    database: 'rp_leaderboard',
    upstreamVariable: 'LEADERBOARD_URL',
  },
  {
    name: 'chat-realtime',
    port: 3005,
    database: 'rp_chat',
    upstreamVariable: 'CHAT_URL',
    // Guests on for the local page only (production configs never set it).
    localEnv: { CHAT_ALLOW_GUESTS: 'true', TRUST_PROXY: 'loopback' },
  },
  { name: 'gateway-ratelimit', port: 3000 },
];

/** `npm start`'s persistent PostgreSQL (a free port instead when this one is taken). */
export const DEV_POSTGRES_PORT = 5433;

/** The service named `name` in `SERVICES`. */
export function serviceInfo(name: string): ServiceInfo {
  const service = SERVICES.find((s) => s.name === name);
  if (!service) throw new Error(`no service ${name} in SERVICES`);
  return service;
}

/** True when nothing listens on 127.0.0.1:`port` (it can be bound right now). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The port of every replica of every service: free ones, or DESIGN's (which must be free). */
export async function replicaPorts(
  replicas: number,
  free: boolean,
): Promise<Record<string, number[]>> {
  const ports: Record<string, number[]> = {};
  for (const service of SERVICES) {
    ports[service.name] = [];
    for (let i = 0; i < replicas; i += 1) {
      if (free) ports[service.name].push(await freePort());
      else {
        const port = service.port + 10 * i;
        if (!(await portFree(port)))
          throw new Error(`port ${port} for ${service.name} is taken: stop what uses it`);
        ports[service.name].push(port);
      }
    }
  }
  return ports;
}

/** What every replica of `service` is started with, before the caller's extra variables. */
export function serviceEnv(
  service: ServiceInfo,
  context: {
    urls: (name: string) => string[];
    databases: Record<string, string>;
    redlock: RedisServer[];
    replicas: number;
  },
): Record<string, string> {
  const env: Record<string, string> = {
    // As in k8s (3 s there, after the preStop sleep): on SIGTERM readiness answers 503 and every
    // answer closes its keep-alive socket for a second before close, so that close finds no
    // pooled socket idle (a request sent on one as it is cut is reset, not replayed).
    SHUTDOWN_DELAY_MS: '1000',
    ...service.localEnv,
  };
  if (service.database) env.DATABASE_URL = context.databases[service.database];
  if (service.name === 'inventory-lock' && context.redlock.length)
    env.REDLOCK_URLS = context.redlock.map((s) => s.url).join(',');
  if (service.name === 'chat-realtime') env.AUTH_URL = context.urls('auth-session')[0];
  if (service.name === 'gateway-ratelimit') {
    for (const upstream of SERVICES)
      if (upstream.upstreamVariable)
        env[upstream.upstreamVariable] = context.urls(upstream.name).join(',');
    // The local limit while the limiter's Redis is away: limit / replicas per gateway.
    env.RATE_LIMIT_REPLICAS = String(context.replicas);
    // One issued key for trying the API locally (the registry holds its digest only).
    env.API_KEYS = JSON.stringify(DEV_API_KEYS);
  }
  return env;
}
