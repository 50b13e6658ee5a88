// `npm start [-- --redis=standalone|sentinel|cluster] [--no-build] [--logs] [--observe]` (also
// REDIS_TOPOLOGY=...): builds, then runs Redis on that topology, PostgreSQL and every service with
// 2 replicas behind the gateway on :3000, prints what runs where, and stops everything on Ctrl-C
// or SIGTERM. Run through tools/dev/start.cjs (TypeScript via @swc-node/register).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startCluster, topologyFromArgs, type Cluster, type TopologyKind } from './cluster';
import { SERVICES } from './services';
import { startObserver, type Observer } from './observe';

const ROOT = join(__dirname, '..', '..');
const REPLICAS = 2;

/** `master`, `replica` or `?` for one data node. */
async function role(port: number): Promise<string> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('replication');
    return /role:master/.test(info) ? 'master' : 'replica';
  } catch {
    return '?';
  } finally {
    client.disconnect();
  }
}

/** One table row per Redis process: [what, role, address]. */
async function redisRows(cluster: Cluster): Promise<string[][]> {
  const rows: string[][] = [];
  if (!cluster.topology) {
    rows.push(['redis', 'external', cluster.redisEnv.REDIS_URL ?? '']);
  } else {
    const label = cluster.topologyKind === 'cluster' ? 'redis cluster node' : 'redis';
    for (const server of cluster.topology.servers) {
      const what = cluster.topologyKind === 'standalone' ? 'standalone' : await role(server.port);
      rows.push([label, what, `${server.host}:${server.port}`]);
    }
    for (const sentinel of cluster.redisEnv.REDIS_SENTINELS?.split(',') ?? []) {
      rows.push(['redis sentinel', `(${cluster.redisEnv.REDIS_SENTINEL_MASTER})`, sentinel]);
    }
  }
  for (const server of cluster.redlock)
    rows.push(['redlock master', '', `${server.host}:${server.port}`]);
  return rows;
}

function option(args: string[], name: string): string | undefined {
  const inline = args.find((a) => a.startsWith(`${name}=`));
  if (inline) return inline.slice(name.length + 1);
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let topology: TopologyKind;
  try {
    topology = topologyFromArgs(args);
  } catch (error) {
    console.error(`npm start: ${(error as Error).message}`);
    process.exit(2);
  }
  const redlockText = option(args, '--redlock-masters');
  const redlockMasters = redlockText === undefined ? undefined : Number(redlockText);
  if (redlockMasters !== undefined && !(Number.isInteger(redlockMasters) && redlockMasters >= 0)) {
    console.error(`npm start: --redlock-masters must be a whole number, got "${redlockText}"`);
    process.exit(2);
  }
  const started = Date.now();
  if (!args.includes('--no-build')) {
    console.log('building every service (nx run-many -t build)...');
    const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (build.status !== 0) {
      console.error('build failed: run `npx nx run-many -t build` to see why');
      process.exit(1);
    }
  }

  let stopping = false;
  const run: { starting?: Promise<Cluster>; observer?: Observer } = {};
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping every process...`);
    const cluster = await run.starting?.catch(() => undefined);
    await run.observer?.stop().catch(() => undefined);
    await cluster?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  console.log(
    `starting Redis (${topology}), PostgreSQL and ${SERVICES.length} services x ${REPLICAS} replicas...`,
  );
  run.starting = startCluster({
    replicas: REPLICAS,
    topology,
    redlockMasters,
    persistentPostgres: true,
    echo: args.includes('--logs'),
  });
  let cluster: Cluster | undefined;
  try {
    cluster = await run.starting;
  } catch (error) {
    if (stopping) return;
    console.error(`npm start failed: ${(error as Error).message}`);
    process.exit(1);
  }
  if (stopping || !cluster) return;
  console.log(
    `\nall ${cluster.instances.length} service processes ready on Redis ${topology} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  const rows = cluster.instances.map((i) => [i.service, `#${i.index}`, i.url, String(i.child.pid)]);
  for (const [what, detail, address] of await redisRows(cluster))
    rows.push([what, detail, address, '']);
  rows.push(['postgres', '', new URL(cluster.databaseUrl).host, '']);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length), 8));
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('  ')
      .trimEnd();
  console.log(line(['service', 'replica', 'url', 'pid']));
  for (const row of rows) console.log(line(row));
  if (args.includes('--observe')) {
    try {
      run.observer = await startObserver(cluster, join(ROOT, '.data'));
    } catch (error) {
      console.error(`--observe: ${(error as Error).message}`);
    }
    if (run.observer)
      console.log(
        `\nprometheus      ${run.observer.url}  (every replica scraped; alert rules loaded: ${run.observer.url}/alerts)`,
      );
  }
  console.log(
    `\nopen ${cluster.gatewayUrl}/chat for the chat page, /api/... for the APIs; Ctrl-C stops everything.`,
  );
}

void main();
