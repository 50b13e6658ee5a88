// The local system: a Redis topology (standalone, Sentinel or Cluster, started by testkit), the
// Redlock masters, PostgreSQL, then every service as a separate process (its built
// dist/server.js) with N replicas, the gateway in front. Used by `npm start` (fixed ports, gateway
// on 3000) and by the end-to-end suite, the drills and the benchmarks (free ports).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  TOPOLOGY_KINDS,
  captureOutput,
  delay,
  freePort,
  httpCall,
  spawnTracked,
  startRedisServers,
  startTopology,
  stopChild,
  waitUntilReady,
  type RedisServer,
  type RedisTopology,
  type TopologyKind,
} from '@redis-patterns/testkit';
import { ensureDatabases, startPostgresServer, type PostgresHandle } from './local-postgres';
import { SERVICES, replicaPorts, serviceEnv, serviceInfo } from './services';

export { freePort, type TopologyKind };

const ROOT = join(__dirname, '..', '..');

export interface Instance {
  service: string;
  index: number;
  port: number;
  url: string;
  /** Where its /metrics answers: the port itself, except the gateway's admin port (ADMIN_PORT). */
  metricsPort: number;
  /** The running process (replaced by `restart`). */
  child: ChildProcess;
  output(): string;
  /** The environment it was started with; `restart` uses it, so a test may change it first. */
  env: Record<string, string | undefined>;
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
  /** How long every service may take to answer /health/ready. @default 120000 (a quiet machine needs about 15 s; a loaded 2-core one much more) */
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

/** The process has exited (by itself or by a signal). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Asks `url` + `path` every 200 ms until a status `accepted` takes comes back, or until `signal`
 * aborts (the wait around it ended): the `ready` of testkit's `waitUntilReady` for an HTTP server.
 */
export async function untilAnswering(
  url: string,
  path: string,
  signal: AbortSignal,
  accepted: (status: number) => boolean = (status) => status === 200,
): Promise<void> {
  while (!signal.aborted) {
    // Bounded, as a stalled server accepts and never answers; generous, as a loaded one is slow.
    const status = await httpCall(url, 'GET', path, { timeoutMs: 5000 }).then(
      (answer) => answer.status,
      () => 0,
    );
    if (accepted(status)) return;
    await delay(200);
  }
}

/** Waits for `/health/ready` = 200; a process that exits first, or is late, is killed and named. */
async function waitReady(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  await waitUntilReady(child, {
    what: `${url} answering 200 on /health/ready`,
    timeoutMs,
    output,
    ready: (signal) => untilAnswering(url, '/health/ready', signal),
  });
}

/** What `startCluster` stops when it is stopped (or fails): in order, after the services. */
type Stoppers = (() => Promise<void>)[];

/** Redis: the topology, unless an external standalone REDIS_URL is given. */
async function startRedis(
  kind: TopologyKind,
  options: ClusterOptions,
  stoppers: Stoppers,
  log: (line: string) => void,
): Promise<{ topology: RedisTopology | null; redisEnv: Record<string, string> }> {
  if (kind === 'standalone' && process.env.REDIS_URL && !options.ownRedis) {
    log(`using REDIS_URL ${new URL(process.env.REDIS_URL).host}`);
    return { topology: null, redisEnv: { REDIS_URL: process.env.REDIS_URL } };
  }
  const started = Date.now();
  const topology = await startTopology(kind, { failureDetectionMs: options.failureDetectionMs });
  stoppers.push(() => topology.stop());
  log(`redis ${kind} started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { topology, redisEnv: { ...topology.env } };
}

function seedProducts(databaseUrl: string, log: (line: string) => void): void {
  const seed = join(ROOT, 'apps', 'product-api-cache', 'dist', 'seed.js');
  if (!existsSync(seed)) return;
  const result = spawnSync(process.execPath, [seed], {
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`product seed failed: ${result.stderr}`);
  log('products seeded');
}

/** Starts the whole system on the Redis topology asked for. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const replicas = options.replicas ?? 2;
  const kind = options.topology ?? 'standalone';
  const log = options.log ?? ((line: string) => console.log(line));
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const services = new Set<ChildProcess>();
  const stoppers: Stoppers = [];

  const stopAll = async () => {
    await Promise.all([...services].map((child) => stopChild(child, 'SIGTERM', 10000)));
    // Redis and PostgreSQL after the services, so that no service logs a lost connection.
    await Promise.allSettled(stoppers.splice(0).map((stop) => stop()));
  };

  const spawnService = (name: string, index: number, env: Instance['env']) => {
    const child = spawnTracked(process.execPath, [join(ROOT, 'apps', name, 'dist', 'server.js')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    services.add(child);
    child.once('exit', () => services.delete(child));
    if (options.echo) {
      const echo = (chunk: Buffer) => process.stdout.write(`[${name}#${index}] ${chunk}`);
      child.stdout?.on('data', echo);
      child.stderr?.on('data', echo);
    }
    return { child, output: captureOutput(child, 8000) };
  };

  try {
    for (const service of SERVICES) {
      if (!existsSync(join(ROOT, 'apps', service.name, 'dist', 'server.js'))) {
        throw new Error(`apps/${service.name}/dist/server.js is missing: run npm run build`);
      }
    }
    const { topology, redisEnv } = await startRedis(kind, options, stoppers, log);
    const redlockCount = options.redlockMasters ?? (kind === 'standalone' ? 0 : 3);
    const redlock = redlockCount > 0 ? await startRedisServers(redlockCount) : [];
    for (const server of redlock) stoppers.push(() => server.stop());
    if (redlock.length) log(`${redlock.length} independent Redlock masters started`);

    const { postgres, databaseUrl } = await startPostgresServer(
      { ...options, dataDir: options.dataDir ?? join(ROOT, '.data') },
      stoppers,
      log,
    );
    const databases = await ensureDatabases(
      databaseUrl,
      SERVICES.flatMap((s) => (s.database ? [s.database] : [])),
    );
    const products = serviceInfo('product-api-cache').database;
    if (options.seed !== false && products) seedProducts(databases[products], log);

    const ports = await replicaPorts(replicas, options.freePorts === true);
    const urls = (name: string) => ports[name].map((p) => `http://127.0.0.1:${p}`);
    const inherited: Record<string, string | undefined> = { ...process.env };
    for (const name of [...REDIS_AND_DATABASE_VARIABLES, 'DEV_CHILD']) delete inherited[name];
    const common: Record<string, string> = {
      NODE_ENV: 'development',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      ...redisEnv,
    };

    const instances: Instance[] = [];
    for (const service of SERVICES) {
      const own = serviceEnv(service, { urls, databases, redlock, replicas });
      for (const [index, port] of ports[service.name].entries()) {
        // The gateway serves its own /metrics on an admin port only: fixed ports keep its
        // default (PORT + 1000), free ports get one more free port, passed explicitly.
        const admin = service.name === 'gateway-ratelimit';
        const metricsPort = !admin ? port : options.freePorts ? await freePort() : port + 1000;
        const env = {
          ...inherited,
          ...common,
          ...own,
          ...(admin ? { ADMIN_PORT: String(metricsPort) } : {}),
          ...(options.env?.[service.name] ?? {}),
          PORT: String(port),
        };
        const { child, output } = spawnService(service.name, index, env);
        const url = `http://127.0.0.1:${port}`;
        instances.push({
          service: service.name,
          index,
          port,
          url,
          metricsPort,
          child,
          output,
          env,
        });
      }
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
