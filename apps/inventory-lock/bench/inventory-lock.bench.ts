import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import {
  httpLoad,
  ratio,
  startPostgres,
  startRedisServers,
  startServiceProcess,
  uniquePrefix,
  writeBenchReport,
  type PostgresServer,
  type ScenarioResult,
  type ServiceProcess,
} from '@redis-patterns/testkit';

const SECONDS = 3;
const ROUNDS = 2;
const CONNECTIONS_PER_REPLICA = 10;
const REPLICAS = 2;
const SKUS = 100;
const STOCK = 1_000_000_000;
const SERVER = join(__dirname, '..', 'dist', 'server.js');

interface Setup {
  name: string;
  strategy: 'redlock' | 'atomic-sql';
  masters: number;
}

const SETUPS: Setup[] = [
  { name: 'redlock-1-master', strategy: 'redlock', masters: 1 },
  { name: 'redlock-3-masters', strategy: 'redlock', masters: 3 },
  { name: 'atomic-sql', strategy: 'atomic-sql', masters: 1 },
];

let sequence = 0;

/** Lines per hold in the hold scenario. */
const HOLD_LINES = 3;

/** The path and body of one request: a reservation of 1, or a hold of HOLD_LINES lines of 1. */
function nextRequest(kind: 'reserve' | 'hold', skus: number): { path: string; body: string } {
  sequence += 1;
  if (kind === 'hold') {
    const lines = Array.from({ length: HOLD_LINES }, (_, i) => ({
      sku: skus === 1 ? `hot-${i}` : `sku-${(sequence + i) % skus}`,
      quantity: 1,
    }));
    return { path: `/orders/order-${sequence}/hold`, body: JSON.stringify({ lines }) };
  }
  const sku = skus === 1 ? 'hot' : `sku-${sequence % skus}`;
  return {
    path: `/inventory/${sku}/reservations`,
    body: JSON.stringify({ orderId: `order-${sequence}`, quantity: 1 }),
  };
}

/**
 * Reservations of 1 (or holds of HOLD_LINES lines) with a fresh orderId each, on one sku (three
 * for holds) or spread over SKUS skus.
 */
async function reserveLoad(
  scenario: string,
  urls: string[],
  skus: number,
  seconds = SECONDS,
  kind: 'reserve' | 'hold' = 'reserve',
): Promise<ScenarioResult> {
  const statuses: Record<string, number> = {};
  const runs = await Promise.all(
    urls.map((url) =>
      httpLoad({
        scenario,
        url: `${url}/inventory/hot/reservations`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        connections: CONNECTIONS_PER_REPLICA,
        durationSeconds: seconds,
        requests: [
          {
            method: 'POST',
            setupRequest: (request) => ({ ...request, ...nextRequest(kind, skus) }),
            onResponse: (status) => {
              statuses[status] = (statuses[status] ?? 0) + 1;
            },
          },
        ],
      }),
    ),
  );
  // One load per replica at the same time; throughput adds up, the tail is the worse one.
  return {
    scenario,
    requests: runs.reduce((sum, run) => sum + run.requests, 0),
    rps: runs.reduce((sum, run) => sum + run.rps, 0),
    p50Ms: Math.max(...runs.map((run) => run.p50Ms)),
    p99Ms: Math.max(...runs.map((run) => run.p99Ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    statuses: Object.entries(statuses)
      .map(([status, count]) => `${status}:${count}`)
      .join(' '),
  };
}

async function withDatabase<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** True when every sku's stock plus its reservations and holds is still the stock it started with. */
async function stockAccountsForEveryReservation(databaseUrl: string): Promise<boolean> {
  return withDatabase(databaseUrl, async (client) => {
    const { rows } = await client.query<{ bad: string }>(
      `SELECT count(*) AS bad FROM inventory i
       WHERE i.stock + COALESCE((SELECT SUM(quantity) FROM reservations r WHERE r.sku = i.sku), 0)
         + COALESCE((SELECT SUM(quantity) FROM hold_lines l WHERE l.sku = i.sku), 0) <> $1`,
      [STOCK],
    );
    return Number(rows[0].bad) === 0;
  });
}

/** Starts the replicas of one setup on a database of its own and stocks every sku. */
async function startSetup(
  setup: Setup,
  masterUrls: string[],
  postgres: PostgresServer,
  processes: ServiceProcess[],
): Promise<{ urls: string[]; databaseUrl: string }> {
  const databaseUrl = await postgres.createDatabase();
  await withDatabase(postgres.url, (client) =>
    client.query(
      `ALTER DATABASE ${new URL(databaseUrl).pathname.slice(1)} SET synchronous_commit = off`,
    ),
  );
  const env = {
    REDIS_URL: masterUrls[0],
    REDLOCK_URLS: masterUrls.slice(0, setup.masters).join(','),
    REDIS_KEY_PREFIX: uniquePrefix('bench-inv'),
    DATABASE_URL: databaseUrl,
    INVENTORY_STRATEGY: setup.strategy,
    LOG_LEVEL: 'error',
  };
  const urls: string[] = [];
  // One at a time: both would run the migrations of a fresh database at once.
  for (let i = 0; i < REPLICAS; i += 1) {
    const started = await startServiceProcess(SERVER, env);
    processes.push(started);
    urls.push(started.url);
  }
  const hot = ['hot', ...Array.from({ length: HOLD_LINES }, (_, i) => `hot-${i}`)];
  for (const sku of [...hot, ...Array.from({ length: SKUS }, (_, i) => `sku-${i}`)]) {
    const response = await fetch(`${urls[0]}/inventory/${sku}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stock: STOCK }),
    });
    if (response.status !== 200) throw new Error(`restock ${sku}: ${response.status}`);
  }
  return { urls, databaseUrl };
}

/** Rounds of every scenario in turn, so a busy moment of the machine hits them all alike. */
function combine(runs: ScenarioResult[]): ScenarioResult {
  const mean = (pick: (run: ScenarioResult) => number) =>
    Math.round((runs.reduce((sum, run) => sum + pick(run), 0) / runs.length) * 10) / 10;
  const statuses = new Map<string, number>();
  for (const run of runs) {
    for (const part of String(run.statuses).split(' ').filter(Boolean)) {
      const [status, count] = part.split(':');
      statuses.set(status, (statuses.get(status) ?? 0) + Number(count));
    }
  }
  return {
    scenario: runs[0].scenario,
    requests: runs.reduce((sum, run) => sum + run.requests, 0),
    rps: Math.round(mean((run) => run.rps)),
    p50Ms: mean((run) => run.p50Ms),
    p99Ms: Math.max(...runs.map((run) => run.p99Ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    statuses: [...statuses].map(([status, count]) => `${status}:${count}`).join(' '),
  };
}

async function main(): Promise<void> {
  const [masters, postgres] = await Promise.all([startRedisServers(3), startPostgres()]);
  const runs = new Map<string, ScenarioResult[]>();
  const invariants: Record<string, boolean> = {};
  const processes: ServiceProcess[] = [];
  try {
    const started = [];
    for (const setup of SETUPS) {
      started.push({
        setup,
        ...(await startSetup(
          setup,
          masters.map((m) => m.url),
          postgres,
          processes,
        )),
      });
    }
    // Warm the JIT of every service process before anything is recorded.
    for (const { urls } of started) await reserveLoad('warm-up', urls, SKUS, 1);
    for (let round = 0; round < ROUNDS; round += 1) {
      // Every other round in reverse, so no setup always runs first or last.
      const order = round % 2 === 0 ? started : [...started].reverse();
      for (const { setup, urls } of order) {
        for (const skus of [1, SKUS]) {
          const name = `${setup.name} ${skus === 1 ? 'hot-sku' : `${SKUS}-skus`}`;
          runs.set(name, [...(runs.get(name) ?? []), await reserveLoad(name, urls, skus)]);
        }
        const holds = `${setup.name} holds-${HOLD_LINES}-lines-${SKUS}-skus`;
        runs.set(holds, [
          ...(runs.get(holds) ?? []),
          await reserveLoad(holds, urls, SKUS, SECONDS, 'hold'),
        ]);
      }
    }
    for (const { setup, databaseUrl } of started) {
      invariants[setup.name] = await stockAccountsForEveryReservation(databaseUrl);
    }
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await postgres.stop();
    await Promise.all(masters.map((m) => m.stop()));
  }
  const scenarios = [...runs.values()].map(combine);

  const rps = (name: string) => scenarios.find((s) => s.scenario === name)?.rps ?? 0;
  const ratios = {
    'redlock-1 hot / atomic-sql hot': ratio(
      rps('redlock-1-master hot-sku'),
      rps('atomic-sql hot-sku'),
    ),
    'redlock-3 hot / atomic-sql hot': ratio(
      rps('redlock-3-masters hot-sku'),
      rps('atomic-sql hot-sku'),
    ),
    'redlock-3 hot / redlock-1 hot': ratio(
      rps('redlock-3-masters hot-sku'),
      rps('redlock-1-master hot-sku'),
    ),
    'redlock-1 100 / atomic-sql 100': ratio(
      rps('redlock-1-master 100-skus'),
      rps('atomic-sql 100-skus'),
    ),
    'redlock-3 100 / atomic-sql 100': ratio(
      rps('redlock-3-masters 100-skus'),
      rps('atomic-sql 100-skus'),
    ),
    'redlock-3 100 / redlock-1 100': ratio(
      rps('redlock-3-masters 100-skus'),
      rps('redlock-1-master 100-skus'),
    ),
    'redlock-1 holds-3 / atomic-sql holds-3 (100 skus)': ratio(
      rps(`redlock-1-master holds-${HOLD_LINES}-lines-${SKUS}-skus`),
      rps(`atomic-sql holds-${HOLD_LINES}-lines-${SKUS}-skus`),
    ),
    'redlock-3 holds-3 / atomic-sql holds-3 (100 skus)': ratio(
      rps(`redlock-3-masters holds-${HOLD_LINES}-lines-${SKUS}-skus`),
      rps(`atomic-sql holds-${HOLD_LINES}-lines-${SKUS}-skus`),
    ),
    'redlock-1 100 / redlock-1 hot': ratio(
      rps('redlock-1-master 100-skus'),
      rps('redlock-1-master hot-sku'),
    ),
  };
  writeBenchReport({
    service: 'inventory-lock',
    scenarios,
    ratios,
    targets: Object.fromEntries(
      Object.entries(invariants).map(([name, held]) => [
        `${name}: stock + reserved unchanged`,
        held,
      ]),
    ),
    notes: {
      load: `${REPLICAS} service processes per setup, ${CONNECTIONS_PER_REPLICA} connections each, ${ROUNDS} rounds of ${SECONDS} s per scenario in turn, reservations of 1 (holds of ${HOLD_LINES} lines of 1 on consecutive skus) with fresh orderIds`,
      combined:
        'per round: rps summed over both replicas, p50/p99 of the worse replica; then rps and p50 averaged over rounds, p99 the worst round',
      masters: 'local redis-server processes on 127.0.0.1 (no network latency between masters)',
      postgres:
        'embedded PostgreSQL, synchronous_commit=off on the bench database (same for all three)',
      loadAverage: loadavg()
        .map((l) => l.toFixed(1))
        .join(' '),
    },
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
