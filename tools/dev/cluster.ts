// The local system: a Redis topology (standalone, Sentinel or Cluster, started by testkit), the
// Redlock masters, PostgreSQL, then every service as a separate process (its built
// dist/server.js) with N replicas, the gateway in front. Used by `npm start` (fixed ports, gateway
// on 3000) and by the end-to-end suite, the drills and the benchmarks (free ports).
import { createHash } from 'node:crypto';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  TOPOLOGY_KINDS,
  captureOutput,
  freePort,
  spawnTracked,
  startPostgres,
  startRedisServers,
  startTopology,
  stopChild,
  type RedisServer,
  type RedisTopology,
  type TopologyKind,
} from '@redis-patterns/testkit';

export { freePort, type TopologyKind };

const ROOT = join(__dirname, '..', '..');

export interface ServiceInfo {
  name: string;
  /** The DESIGN port of replica #0 (replica #i listens on port + 10 * i with fixed ports). */
  port: number;
  database?: string;
}

/** The API key `npm start` issues (consumer `dev`, the default policy). Never deployed. */
export const DEV_API_KEY = 'dev-local-key-0000000001';

/** Services in start order: the gateway last, it needs the others' URLs. */
export const SERVICES: ServiceInfo[] = [
  { name: 'product-api-cache', port: 3001, database: 'rp_products' },
  { name: 'auth-session', port: 3002, database: 'rp_auth' },
  { name: 'inventory-lock', port: 3003, database: 'rp_inventory' },
  { name: 'game-leaderboard', port: 3004, database: 'rp_leaderboard' },
  { name: 'chat-realtime', port: 3005, database: 'rp_chat' },
  { name: 'gateway-ratelimit', port: 3000 },
];

export interface Instance {
  service: string;
  index: number;
  port: number;
  url: string;
  /** The running process (replaced by `restart`). */
  child: ChildProcess;
  output(): string;
  /** The environment it was started with; `restart` uses it, so a test may change it first. */
  env: Record<string, string | undefined>;
}

export interface PostgresHandle {
  url: string;
  /** SIGSTOP of the server and its backends (testkit's embedded or container server only). */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export interface ClusterOptions {
  /** Replicas of every service. @default 2 */
  replicas?: number;
  /** The Redis deployment the services use. @default 'standalone' */
  topology?: TopologyKind;
  /**
   * Independent standalone redis-servers started for inventory-lock's `REDLOCK_URLS` (it refuses
   * Cluster nodes and Sentinel-managed masters as Redlock masters). 0 leaves `REDLOCK_URLS` unset,
   * so a standalone `REDIS_URL` is the one lock master.
   * @default 0 on standalone, 3 on Sentinel and Cluster
   */
  redlockMasters?: number;
  /** Sentinel `down-after-milliseconds` / Cluster `cluster-node-timeout`. @default 1000 */
  failureDetectionMs?: number;
  /** Free ports everywhere (tests); else the gateway on 3000 and the services on DESIGN ports. */
  freePorts?: boolean;
  /** Start a Redis even when `REDIS_URL` is set. */
  ownRedis?: boolean;
  /** Start a PostgreSQL even when `DATABASE_URL` is set. */
  ownPostgres?: boolean;
  /**
   * `npm start`: an embedded PostgreSQL whose data stays in `<dataDir>/postgres` between runs
   * (port 5433 when free). Otherwise testkit's PostgreSQL (a fresh one, removed by `stop`).
   */
  persistentPostgres?: boolean;
  /** Where the persistent PostgreSQL keeps its data. @default <repo>/.data */
  dataDir?: string;
  /** Extra variables per service: `{ 'auth-session': { VAR: 'value' } }`. */
  env?: Record<string, Record<string, string>>;
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
  /** Seed the products (apps/product-api-cache/dist/seed.js). @default true */
  seed?: boolean;
  /** How long every service may take to answer /health/ready. @default 60000 */
  readyTimeoutMs?: number;
  /** Copy every service's output to stdout, prefixed `[service#i]`. */
  echo?: boolean;
}

export interface Cluster {
  topologyKind: TopologyKind;
  /** The Redis deployment with its fault controls; null when an external `REDIS_URL` is used. */
  topology: RedisTopology | null;
  /** The standalone server (null on Sentinel/Cluster or with an external `REDIS_URL`). */
  redis: RedisServer | null;
  /** The Redis variables every service got (REDIS_URL, or REDIS_SENTINELS + ..., or REDIS_CLUSTER_NODES). */
  redisEnv: Record<string, string>;
  /** inventory-lock's independent Redlock masters (empty: `REDIS_URL` is the one master). */
  redlock: RedisServer[];
  databaseUrl: string;
  databases: Record<string, string>;
  postgres: PostgresHandle | null;
  gatewayUrl: string;
  instances: Instance[];
  /** Starts one instance again on its port (after a kill), waiting until it is ready. */
  restart(instance: Instance): Promise<void>;
  /** Stops every service, then Redis and PostgreSQL; leaves no process behind. */
  stop(): Promise<void>;
}

/** Variables of the caller's environment that must not leak into a service of another topology. */
const REDIS_AND_DATABASE_VARIABLES = [
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_MASTER',
  'REDIS_CLUSTER_NODES',
  'REDLOCK_URLS',
  'DATABASE_URL',
  'PORT',
  'HOST',
];

/**
 * The topology asked for on the command line (`--redis=cluster` or `--redis cluster`), else by
 * `REDIS_TOPOLOGY`, else standalone. Throws a message naming both when the value is unknown.
 */
export function topologyFromArgs(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): TopologyKind {
  let value: string | undefined;
  for (let i = 0; i < args.length; i += 1) {
    if (args[i].startsWith('--redis=')) value = args[i].slice('--redis='.length);
    else if (args[i] === '--redis') value = args[i + 1];
  }
  value = (value ?? env.REDIS_TOPOLOGY ?? 'standalone').trim();
  if (!TOPOLOGY_KINDS.includes(value as TopologyKind)) {
    throw new Error(
      `--redis / REDIS_TOPOLOGY must be one of ${TOPOLOGY_KINDS.join(', ')}, got "${value}"`,
    );
  }
  return value as TopologyKind;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** testkit's embedded PostgreSQL runner, with its data kept in `dir` between runs. */
async function persistentPostgres(
  dir: string,
  port: number,
): Promise<PostgresHandle & { stop(): Promise<void> }> {
  mkdirSync(dir, { recursive: true });
  // As root the server runs as the `postgres` user, which must be able to write its directory.
  chmodSync(dir, 0o777);
  const data = join(dir, 'postgres');
  const runner = require
    .resolve('@redis-patterns/testkit/package.json')
    .replace(/package\.json$/, 'bin/embedded-postgres.mjs');
  const child = spawnTracked(process.execPath, [runner, data, String(port), 'persistent']);
  const output = captureOutput(child);
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) =>
      reject(new Error(`embedded PostgreSQL exited with ${code}: ${output()}`)),
    );
  });
  const signal = (sig: 'STOP' | 'CONT') => {
    const pid = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
    spawnSync('pkill', [`-${sig}`, '-P', pid]);
    process.kill(Number(pid), `SIG${sig}`);
  };
  return {
    url,
    pause: async () => signal('STOP'),
    resume: async () => signal('CONT'),
    stop: () => stopChild(child, 'SIGTERM', 10000),
  };
}

async function ensureDatabases(baseUrl: string, names: string[]): Promise<Record<string, string>> {
  const client = new Client({ connectionString: baseUrl });
  await client.connect();
  try {
    for (const name of names) {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        name,
      ]);
      if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
    }
  } finally {
    await client.end();
  }
  return Object.fromEntries(
    names.map((name) => {
      const url = new URL(baseUrl);
      url.pathname = `/${name}`;
      return [name, url.toString()];
    }),
  );
}

async function waitReady(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited(child)) throw new Error(`${url} exited with ${child.exitCode}: ${output()}`);
    const ok = await fetch(`${url}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${url} not ready after ${timeoutMs} ms: ${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts the whole system on the Redis topology asked for. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const replicas = options.replicas ?? 2;
  const kind = options.topology ?? 'standalone';
  const log = options.log ?? ((line: string) => console.log(line));
  const readyTimeoutMs = options.readyTimeoutMs ?? 60000;
  const services = new Set<ChildProcess>();
  const stoppers: (() => Promise<void>)[] = [];

  const stopAll = async () => {
    await Promise.all([...services].map((child) => stopChild(child, 'SIGTERM', 10000)));
    // Redis and PostgreSQL after the services, so that no service logs a lost connection.
    await Promise.allSettled(stoppers.splice(0).map((stop) => stop()));
  };

  try {
    for (const service of SERVICES) {
      if (!existsSync(join(ROOT, 'apps', service.name, 'dist', 'server.js'))) {
        throw new Error(`apps/${service.name}/dist/server.js is missing: run npm run build`);
      }
    }

    // Redis: the topology, unless an external standalone REDIS_URL is given.
    let topology: RedisTopology | null = null;
    let redisEnv: Record<string, string>;
    if (kind === 'standalone' && process.env.REDIS_URL && !options.ownRedis) {
      redisEnv = { REDIS_URL: process.env.REDIS_URL };
      log(`using REDIS_URL ${new URL(process.env.REDIS_URL).host}`);
    } else {
      const started = Date.now();
      const running = await startTopology(kind, {
        failureDetectionMs: options.failureDetectionMs,
      });
      topology = running;
      stoppers.push(() => running.stop());
      redisEnv = { ...running.env };
      log(`redis ${kind} started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    const redlockCount = options.redlockMasters ?? (kind === 'standalone' ? 0 : 3);
    const redlock = redlockCount > 0 ? await startRedisServers(redlockCount) : [];
    for (const server of redlock) stoppers.push(() => server.stop());
    if (redlock.length) log(`${redlock.length} independent Redlock masters started`);

    // PostgreSQL.
    let postgres: PostgresHandle | null = null;
    let databaseUrl: string;
    if (process.env.DATABASE_URL && !options.ownPostgres) {
      databaseUrl = process.env.DATABASE_URL;
      log(`using DATABASE_URL ${new URL(databaseUrl).host}`);
    } else if (options.persistentPostgres) {
      const port = !options.freePorts && (await portFree(5433)) ? 5433 : await freePort();
      const dataDir = options.dataDir ?? join(ROOT, '.data');
      const server = await persistentPostgres(dataDir, port);
      stoppers.push(() => server.stop());
      postgres = server;
      databaseUrl = server.url;
      log(`embedded PostgreSQL on 127.0.0.1:${port} (data in ${join(dataDir, 'postgres')})`);
    } else {
      const server = await startPostgres({ faults: true });
      stoppers.push(() => server.stop());
      postgres = server;
      databaseUrl = server.url;
    }
    const databases = await ensureDatabases(
      databaseUrl,
      SERVICES.flatMap((s) => (s.database ? [s.database] : [])),
    );

    if (options.seed !== false) {
      const seed = join(ROOT, 'apps', 'product-api-cache', 'dist', 'seed.js');
      if (existsSync(seed)) {
        const result = spawnSync(process.execPath, [seed], {
          env: { ...process.env, DATABASE_URL: databases.rp_products, LOG_LEVEL: 'warn' },
          encoding: 'utf8',
        });
        if (result.status !== 0) throw new Error(`product seed failed: ${result.stderr}`);
        log('products seeded');
      }
    }

    const ports: Record<string, number[]> = {};
    for (const service of SERVICES) {
      ports[service.name] = [];
      for (let i = 0; i < replicas; i += 1) {
        if (options.freePorts) ports[service.name].push(await freePort());
        else {
          const port = service.port + 10 * i;
          if (!(await portFree(port)))
            throw new Error(`port ${port} for ${service.name} is taken: stop what uses it`);
          ports[service.name].push(port);
        }
      }
    }
    const list = (name: string) => ports[name].map((p) => `http://127.0.0.1:${p}`).join(',');
    const inherited: Record<string, string | undefined> = { ...process.env };
    for (const name of [...REDIS_AND_DATABASE_VARIABLES, 'DEV_CHILD']) delete inherited[name];
    const common: Record<string, string> = {
      NODE_ENV: 'development',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      ...redisEnv,
    };
    const perService: Record<string, Record<string, string>> = {
      'product-api-cache': { DATABASE_URL: databases.rp_products },
      // Behind the gateway on this machine: X-Forwarded-* from loopback name the real client,
      // so lockout keys, Origin checks and cookies see what the browser sent.
      'auth-session': { DATABASE_URL: databases.rp_auth, TRUST_PROXY: 'loopback' },
      'inventory-lock': {
        DATABASE_URL: databases.rp_inventory,
        ...(redlock.length ? { REDLOCK_URLS: redlock.map((s) => s.url).join(',') } : {}),
      },
      'game-leaderboard': { DATABASE_URL: databases.rp_leaderboard },
      // Guests on for the local page only (production configs never set it); history archived.
      'chat-realtime': {
        AUTH_URL: list('auth-session').split(',')[0],
        CHAT_ALLOW_GUESTS: 'true',
        TRUST_PROXY: 'loopback',
        DATABASE_URL: databases.rp_chat,
      },
      'gateway-ratelimit': {
        PRODUCTS_URL: list('product-api-cache'),
        AUTH_URL: list('auth-session'),
        INVENTORY_URL: list('inventory-lock'),
        LEADERBOARD_URL: list('game-leaderboard'),
        CHAT_URL: list('chat-realtime'),
        // The local limit while the limiter's Redis is away: limit / replicas per gateway.
        RATE_LIMIT_REPLICAS: String(replicas),
        // One issued key for trying the API locally (the registry holds its digest only).
        API_KEYS: JSON.stringify({
          keys: [
            { sha256: createHash('sha256').update(DEV_API_KEY).digest('hex'), consumer: 'dev' },
          ],
        }),
      },
    };

    const spawnService = (name: string, index: number, env: Instance['env']) => {
      const child = spawnTracked(
        process.execPath,
        [join(ROOT, 'apps', name, 'dist', 'server.js')],
        {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      services.add(child);
      child.once('exit', () => services.delete(child));
      let output = '';
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-8000);
        if (options.echo) process.stdout.write(`[${name}#${index}] ${chunk}`);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      return { child, output: () => output };
    };

    const instances: Instance[] = [];
    for (const service of SERVICES) {
      ports[service.name].forEach((port, index) => {
        const env = {
          ...inherited,
          ...common,
          ...perService[service.name],
          ...(options.env?.[service.name] ?? {}),
          PORT: String(port),
        };
        const { child, output } = spawnService(service.name, index, env);
        instances.push({
          service: service.name,
          index,
          port,
          url: `http://127.0.0.1:${port}`,
          child,
          output,
          env,
        });
      });
    }
    await Promise.all(
      instances.map((i) => waitReady(i.url, i.child, readyTimeoutMs, () => i.output())),
    );

    const gateway = instances.find((i) => i.service === 'gateway-ratelimit') as Instance;
    return {
      topologyKind: kind,
      topology,
      redis: kind === 'standalone' && topology ? topology.servers[0] : null,
      redisEnv,
      redlock,
      databaseUrl,
      databases,
      postgres,
      gatewayUrl: gateway.url,
      instances,
      async restart(instance) {
        const { child, output } = spawnService(instance.service, instance.index, instance.env);
        instance.child = child;
        instance.output = output;
        await waitReady(instance.url, child, readyTimeoutMs, output);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
