import {
  startPostgres,
  startRedis,
  startReplicas,
  uniquePrefix,
  type PostgresServer,
  type RedisServer,
  type Replicas,
} from '@redis-patterns/testkit';
import type { ServiceInstance } from '@redis-patterns/service-kit';
import { buildApp } from '../src/app';
import type { AppConfig } from '../src/config';

export const SECRET = 'test-secret-0123456789abcdefghijklmnop';

/** A config for tests: cheap scrypt, loopback proxy trusted so tests can set X-Forwarded-For. */
export function testConfig(
  redisUrl: string,
  databaseUrl: string,
  keyPrefix: string,
  overrides: Partial<AppConfig> = {},
): AppConfig {
  return {
    logLevel: 'silent',
    redis: { url: redisUrl, commandTimeoutMs: 500 },
    keyPrefix,
    database: { url: databaseUrl, poolSize: 4, statementTimeoutMs: 5000 },
    session: {
      secrets: [SECRET],
      cookieName: 'sid',
      cookieSecure: false,
      idleSeconds: 1800,
      maxSeconds: 604800,
    },
    login: { maxFailures: 5, failureWindowSeconds: 900, scryptCost: 1024 },
    allowedOrigins: ['https://app.example.com'],
    trustProxy: ['127.0.0.1'],
    ...overrides,
  };
}

export interface Servers {
  redis: RedisServer;
  postgres: PostgresServer;
  databaseUrl: string;
  close(): Promise<void>;
}

export async function startServers(options: { faults?: boolean } = {}): Promise<Servers> {
  const [redis, postgres] = await Promise.all([
    startRedis({ faults: options.faults }),
    startPostgres(),
  ]);
  const databaseUrl = await postgres.createDatabase();
  return {
    redis,
    postgres,
    databaseUrl,
    close: async () => {
      await Promise.allSettled([redis.stop(), postgres.stop()]);
    },
  };
}

/** `n` replicas on one Redis prefix and one database; `configure(i)` may vary one replica. */
export function startAuthReplicas(
  servers: Servers,
  n: number,
  configure: (index: number) => Partial<AppConfig> = () => ({}),
): Promise<Replicas<ServiceInstance>> {
  const prefix = uniquePrefix('auth');
  return startReplicas(n, (i) =>
    buildApp(testConfig(servers.redis.url, servers.databaseUrl, prefix, configure(i))),
  );
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
  const login = await call(base, 'POST', '/auth/login', { body: { username, password }, headers });
  if (login.status !== 200 || !login.cookie) throw new Error(`login: ${login.status}`);
  return { username, password, cookie: login.cookie };
}
