import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type ServiceInstance } from '@redis-patterns/service-kit';
import {
  eventually,
  httpCall,
  perFileFixture,
  startPostgres,
  startReplicas,
  startTopology,
  uniquePrefix,
  type HttpAnswer,
  type HttpCallOptions,
  type RedisServer,
  type RedisTopology,
  type Replicas,
  type TopologyKind,
  type TopologyOptions,
  type TopologyRedisConfig,
} from '@redis-patterns/testkit';
import { buildApp } from '../src/app';
import { configFromEnv, envSchema, type AppConfig } from '../src/config';

// auth-session's words on top of testkit's vocabulary: its config, its fixtures (one
// PostgreSQL per file, a topology and replicas per suite), a cookie-aware call, a logged-in user.

export const SECRET = 'test-secret-0123456789abcdefghijklmnop';

/** The service's defaults, read from its env schema (never written here a second time). */
const DEFAULTS = configFromEnv(loadConfig(envSchema, { NODE_ENV: 'test', SESSION_SECRET: SECRET }));

/** Login settings of tests: the production limits, a cheap scrypt, two hash slots. */
export const TEST_LOGIN: AppConfig['login'] = {
  ...DEFAULTS.login,
  scryptCost: 1024,
  hashConcurrency: 2,
};

export interface TestConfigOptions extends Partial<Omit<AppConfig, 'redis' | 'database'>> {
  redis: TopologyRedisConfig;
  databaseUrl: string;
}

/**
 * A config for tests: the defaults, a cheap scrypt, loopback proxy trusted so tests can set
 * X-Forwarded-For, a fresh key prefix unless one is given. `TEST_LOG_LEVEL=warn` shows the
 * replicas' logs (a 503 is logged with its cause).
 */
export function testConfig({ redis, databaseUrl, ...overrides }: TestConfigOptions): AppConfig {
  return {
    ...DEFAULTS,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
    redis: { ...redis, commandTimeoutMs: 500 },
    keyPrefix: uniquePrefix('auth'),
    database: { url: databaseUrl, poolSize: 4, statementTimeoutMs: 5000 },
    login: TEST_LOGIN,
    allowedOrigins: ['https://app.example.com'],
    trustProxy: ['127.0.0.1'],
    ...overrides,
  };
}

type Cleanup = (step: () => Promise<unknown> | unknown) => void;

/** A PostgreSQL with one database in it, stopped by `cleanup` (a `perFileFixture`'s). */
export async function startDatabase(cleanup: Cleanup): Promise<{ url: string }> {
  const postgres = await startPostgres();
  cleanup(() => postgres.stop());
  return { url: await postgres.createDatabase() };
}

/** One PostgreSQL for the whole test file, stopped even if its boot failed. */
export function databaseFixture(): () => { url: string } {
  return perFileFixture(startDatabase);
}

export interface AuthSuite {
  topology: RedisTopology;
  replicas: Replicas<ServiceInstance>;
  urls: string[];
}

/**
 * A topology and `n` replicas on one key prefix and one database, for the suite it is called
 * in; `configure(i)` may vary one replica. Everything is stopped even when the boot failed.
 */
export function authFixture(
  kind: TopologyKind,
  database: () => { url: string },
  n: number,
  configure: (index: number) => Partial<AppConfig> = () => ({}),
  topologyOptions: TopologyOptions = {},
): () => AuthSuite {
  return perFileFixture(async (cleanup) => {
    const topology = await startTopology(kind, topologyOptions);
    cleanup(() => topology.stop());
    const replicas = await startAuthReplicas(topology, database().url, n, configure);
    cleanup(() => replicas.close());
    return { topology, replicas, urls: replicas.urls };
  });
}

/** `n` replicas on one Redis prefix and one database; `configure(i)` may vary one replica. */
export function startAuthReplicas(
  topology: RedisTopology,
  databaseUrl: string,
  n: number,
  configure: (index: number) => Partial<AppConfig> = () => ({}),
): Promise<Replicas<ServiceInstance>> {
  const keyPrefix = uniquePrefix('auth');
  return startReplicas(n, (i) =>
    buildApp(testConfig({ redis: topology.config, databaseUrl, keyPrefix, ...configure(i) })),
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

export interface Answer extends HttpAnswer {
  /** The `sid` value of the last Set-Cookie for it, if any ('' when it was cleared). */
  cookie: string | undefined;
}

/** testkit's `httpCall` with an optional session cookie, reporting the Set-Cookie it got back. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: HttpCallOptions & { cookie?: string } = {},
): Promise<Answer> {
  const { cookie: sent, ...rest } = options;
  const headers = sent === undefined ? rest.headers : { ...rest.headers, cookie: `sid=${sent}` };
  const answer = await httpCall(base, method, path, { ...rest, headers });
  let cookie: string | undefined;
  for (const line of answer.headers.getSetCookie()) {
    const match = /^sid=([^;]*)/.exec(line);
    if (match) cookie = decodeURIComponent(match[1]);
  }
  return { ...answer, cookie };
}

/**
 * Calls until the answer is not a 503, as a client honouring Retry-After would (setup, not a
 * property: a fresh Cluster client may answer its first writes 503 while its connections to the
 * masters open, and a loaded machine may find every hash slot busy).
 */
export function callPast503(
  what: string,
  send: () => Promise<Answer>,
  timeoutMs = 5000,
): Promise<Answer> {
  return eventually(
    what,
    async () => {
      const answer = await send();
      if (answer.status === 503) throw new Error(`503 ${String(answer.body.code)}`);
      return answer;
    },
    { timeoutMs, intervalMs: 250 },
  );
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
  // Tests that assert on a login's status call `call` directly.
  const login = await callPast503(`a login of ${username}`, () =>
    call(base, 'POST', '/auth/login', { body: { username, password }, headers }),
  );
  if (login.status !== 200 || !login.cookie) throw new Error(`login: ${login.status}`);
  return { username, password, cookie: login.cookie };
}

/** `password_hashes_total{purpose="login"}` summed over the replicas. */
export async function loginHashes(urls: string[]): Promise<number> {
  let total = 0;
  for (const url of urls) {
    const { text } = await httpCall(url, 'GET', '/metrics');
    const match = /^password_hashes_total\{purpose="login"\} (\d+)$/m.exec(text);
    total += match ? Number(match[1]) : 0;
  }
  return total;
}

/** The figures the README quotes: per topology, each section's last 10 runs. */
const FLOOD_FIGURES = join(
  __dirname,
  '..',
  '..',
  '..',
  'bench-results',
  'auth-session-login-flood.json',
);

/** Appends one run's figures to `section` of `kind` in bench-results/auth-session-login-flood.json. */
export function recordFloodFigures(
  kind: string,
  section: 'parallelFloods' | 'realLogin',
  figures: Record<string, unknown>,
): void {
  mkdirSync(dirname(FLOOD_FIGURES), { recursive: true });
  let all: Record<string, Record<string, { runs: unknown[] } | undefined>> = {};
  try {
    all = JSON.parse(readFileSync(FLOOD_FIGURES, 'utf8')) as typeof all;
  } catch {
    // the first run
  }
  const run = { measuredAt: new Date().toISOString(), machineLoad1m: loadavg()[0], ...figures };
  const { runs: _older, ...sections } = all[kind] ?? {};
  all[kind] = {
    ...sections,
    [section]: { runs: [...(sections[section]?.runs ?? []), run].slice(-10) },
  };
  writeFileSync(FLOOD_FIGURES, `${JSON.stringify(all, null, 2)}\n`);
}
