import { Redis } from 'ioredis';
import {
  startPostgres,
  startReplicas,
  uniquePrefix,
  type PostgresServer,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  type TopologyRedisConfig,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import type { AppConfig } from '../src/config';

export const SECRET = 'test-secret-0123456789abcdefghijklmnop';

/** Login settings of tests: the production limits, a cheap scrypt. */
export const TEST_LOGIN: AppConfig['login'] = {
  maxFailures: 5,
  maxFailuresPerUser: 100,
  failureWindowSeconds: 900,
  knownClientSeconds: 2_592_000,
  scryptCost: 1024,
  hashConcurrency: 2,
  hashQueue: 8,
  hashQueueMs: 100,
};

/**
 * A config for tests: cheap scrypt, loopback proxy trusted so tests can set X-Forwarded-For.
 * `TEST_LOG_LEVEL=warn` shows the replicas' logs (a 503 is logged with its cause).
 */
export function testConfig(
  redis: TopologyRedisConfig,
  databaseUrl: string,
  keyPrefix: string,
  overrides: Partial<AppConfig> = {},
): AppConfig {
  return {
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
    redis: { ...redis, commandTimeoutMs: 500 },
    keyPrefix,
    database: { url: databaseUrl, poolSize: 4, statementTimeoutMs: 5000 },
    session: {
      secrets: [SECRET],
      cookieName: 'sid',
      cookieSecure: false,
      idleSeconds: 1800,
      maxSeconds: 604800,
    },
    login: TEST_LOGIN,
    allowedOrigins: ['https://app.example.com'],
    trustProxy: ['127.0.0.1'],
    ...overrides,
  };
}

/** One PostgreSQL per test file, shared by every topology the file runs on. */
export interface Database {
  postgres: PostgresServer;
  url: string;
  close(): Promise<void>;
}

export async function startDatabase(): Promise<Database> {
  const postgres = await startPostgres();
  const url = await postgres.createDatabase();
  return { postgres, url, close: () => postgres.stop() };
}

/** `n` replicas on one Redis prefix and one database; `configure(i)` may vary one replica. */
export function startAuthReplicas(
  topology: RedisTopology,
  databaseUrl: string,
  n: number,
  configure: (index: number) => Partial<AppConfig> = () => ({}),
): Promise<Replicas<ServiceInstance>> {
  const prefix = uniquePrefix('auth');
  return startReplicas(n, (i) =>
    buildApp(testConfig(topology.config, databaseUrl, prefix, configure(i))),
  );
}

/**
 * The data nodes that are replicas now (of `key`'s master when given), asked of each node so
 * it holds after failovers.
 */
export async function replicasOf(topology: RedisTopology, key?: string): Promise<RedisServer[]> {
  const master = key === undefined ? undefined : await topology.master(key);
  const found = await Promise.all(
    topology.servers.map(async (server) => {
      const client = new Redis({ host: server.host, port: server.port, lazyConnect: true });
      try {
        await client.connect();
        const info = await client.info('replication');
        if (!/^role:slave\r?$/m.test(info)) return false;
        return !master || new RegExp(`^master_port:${master.port}\\r?$`, 'm').test(info);
      } finally {
        client.disconnect();
      }
    }),
  );
  return topology.servers.filter((_, i) => found[i]);
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> | undefined;
  /** The `sid` value of the last Set-Cookie for it, if any ('' when it was cleared). */
  cookie: string | undefined;
  ms: number;
}

/** One HTTP call with an optional session cookie, reporting the Set-Cookie it got back. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; cookie?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie !== undefined) headers.cookie = `sid=${options.cookie}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let cookie: string | undefined;
  for (const line of response.headers.getSetCookie()) {
    const match = /^sid=([^;]*)/.exec(line);
    if (match) cookie = decodeURIComponent(match[1]);
  }
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
    cookie,
    ms,
  };
}

let counter = 0;
/** A fresh, valid username per call. */
export function newUsername(): string {
  counter += 1;
  return `u${process.pid}_${Date.now().toString(36)}_${counter}`.slice(0, 32);
}

/** Registers a user and logs it in on `base`; returns the session cookie value. */
export async function registerAndLogin(
  base: string,
  username = newUsername(),
  password = 'correct horse battery',
  headers: Record<string, string> = {},
): Promise<{ username: string; password: string; cookie: string }> {
  const registered = await call(base, 'POST', '/auth/register', { body: { username, password } });
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  // Setup, not a property: a fresh Cluster client may answer its first writes 503 while its
  // connections to the masters open (seen once in CI); retry as a client honouring
  // Retry-After would. Tests that assert on a login's status call `call` directly.
  let login = await call(base, 'POST', '/auth/login', { body: { username, password }, headers });
  for (let tries = 0; login.status === 503 && tries < 20; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    login = await call(base, 'POST', '/auth/login', { body: { username, password }, headers });
  }
  if (login.status !== 200 || !login.cookie) throw new Error(`login: ${login.status}`);
  return { username, password, cookie: login.cookie };
}
