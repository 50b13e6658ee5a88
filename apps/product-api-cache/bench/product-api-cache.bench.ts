import { join } from 'node:path';
import { createPool, runMigrations } from '@redis-patterns/service-kit';
import {
  httpLoad,
  ratio,
  spawnTracked,
  startPostgres,
  startRedis,
  stopChild,
  writeBenchReport,
  type ScenarioResult,
} from '@redis-patterns/testkit';
import { seedCatalogue } from '../src/catalog/seed-catalogue';

const SECONDS = 3;
const ROUNDS = 3;
const WARMUP_SECONDS = 2;
const CONNECTIONS = 20;
const STAMPEDE_REQUESTS = 500;
const STAMPEDE_KEYS = [4242, 4343, 4444, 4545, 4646];

async function startServers(redisUrl: string, databaseUrl: string) {
  const child = spawnTracked(
    process.execPath,
    [
      '--conditions=@redis-patterns/source',
      '-r',
      '@swc-node/register',
      join(__dirname, 'bench-servers.ts'),
    ],
    { env: { ...process.env, BENCH_REDIS_URL: redisUrl, BENCH_DATABASE_URL: databaseUrl } },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Record<string, string>);
    });
    child.once('exit', (code) => reject(new Error(`bench servers exited with ${code}: ${stderr}`)));
  });
  return { urls, stop: () => stopChild(child, 'SIGTERM', 10000) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function productQueries(urls: string[]): Promise<number> {
  let total = 0;
  for (const url of urls) {
    const text = await fetch(`${url}/metrics`).then((r) => r.text());
    const match = /db_queries_total\{query="product_by_id"\} (\d+)/.exec(text);
    total += match ? Number(match[1]) : 0;
  }
  return total;
}

async function main(): Promise<void> {
  // Own servers always (faults: true ignores REDIS_URL / DATABASE_URL): a bench never loads a shared one.
  const redis = await startRedis({ faults: true });
  const postgres = await startPostgres({ faults: true });
  let servers: Awaited<ReturnType<typeof startServers>> | undefined;
  try {
    const databaseUrl = await postgres.createDatabase();
    const pool = createPool({ url: databaseUrl, poolSize: 2, statementTimeoutMs: 60000 });
    await runMigrations(pool, join(__dirname, '..', 'migrations'));
    await seedCatalogue(pool, 10_000);
    await pool.end();
    servers = await startServers(redis.url, databaseUrl);
    const { urls } = servers;

    const load = (scenario: string, url: string, durationSeconds = SECONDS) =>
      httpLoad({ scenario, url, connections: CONNECTIONS, durationSeconds });
    const targets = {
      static: `${urls.l1}/bench/static`,
      hit: `${urls.l1}/products/1`,
      redisHit: `${urls.redis}/products/1`,
      noCache: `${urls.nocache}/products/1`,
    };
    // Warm-up (JIT, connection pools, the cached entry), discarded.
    for (const url of Object.values(targets)) await load('warm-up', url, WARMUP_SECONDS);
    // The machine is shared: the scenarios alternate in short rounds, each ratio is taken within
    // one round, and the report gives the median round.
    const runs: Record<keyof typeof targets, ScenarioResult[]> = {
      static: [],
      hit: [],
      redisHit: [],
      noCache: [],
    };
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const name of Object.keys(targets) as Array<keyof typeof targets>) {
        runs[name].push(await load(name, targets[name]));
      }
    }
    const perRound = (a: keyof typeof targets, b: keyof typeof targets) =>
      runs[a].map((run, round) => ratio(run.rps, runs[b][round].rps));
    const labels: Record<keyof typeof targets, string> = {
      static: 'static in-process route (ceiling)',
      hit: 'cache hit (L1 on)',
      redisHit: 'cache hit (L1 off, Redis)',
      noCache: 'no cache (PostgreSQL every time)',
    };
    const scenarios: ScenarioResult[] = (Object.keys(runs) as Array<keyof typeof targets>).map(
      (name) => ({
        scenario: `${labels[name]}, median of ${ROUNDS}`,
        requests: runs[name].reduce((sum, run) => sum + run.requests, 0),
        rps: median(runs[name].map((run) => run.rps)),
        p50Ms: median(runs[name].map((run) => run.p50Ms)),
        p99Ms: median(runs[name].map((run) => run.p99Ms)),
        errors: runs[name].reduce((sum, run) => sum + run.errors, 0),
        non2xx: runs[name].reduce((sum, run) => sum + run.non2xx, 0),
      }),
    );

    const stampede: number[] = [];
    for (const id of STAMPEDE_KEYS) {
      const before = await productQueries([urls.stampedeA, urls.stampedeB]);
      const answers = await Promise.all(
        Array.from({ length: STAMPEDE_REQUESTS }, (_, i) =>
          fetch(`${i % 2 ? urls.stampedeB : urls.stampedeA}/products/${id}`).then((r) => r.status),
        ),
      );
      if (answers.some((status) => status !== 200)) throw new Error('stampede request failed');
      stampede.push((await productQueries([urls.stampedeA, urls.stampedeB])) - before);
    }

    const hitStatic = median(perRound('hit', 'static'));
    writeBenchReport({
      service: 'product-api-cache',
      scenarios,
      ratios: {
        'hit/static (rps)': hitStatic,
        'hit/no-cache (rps)': median(perRound('hit', 'noCache')),
        'redis-hit/static (rps)': median(perRound('redisHit', 'static')),
        'redis-hit/no-cache (rps)': median(perRound('redisHit', 'noCache')),
      },
      targets: {
        'hit/static >= 0.8': hitStatic >= 0.8,
        'stampede = 1 query per cold key': stampede.every((count) => count === 1),
      },
      notes: {
        stampede: `${STAMPEDE_REQUESTS} concurrent GETs of one cold product over 2 replicas, ${STAMPEDE_KEYS.length} keys: product queries per key ${stampede.join(', ')}`,
        'hit/static per round': perRound('hit', 'static').join(', '),
        'hit/no-cache per round': perRound('hit', 'noCache').join(', '),
        load: `autocannon ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s per scenario after a ${WARMUP_SECONDS} s warm-up each, servers in a separate process`,
      },
    });
  } finally {
    await servers?.stop();
    await Promise.allSettled([redis.stop(), postgres.stop()]);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
    process.exit(1);
  },
);
