// Submit throughput with PostgreSQL (the journal, group commit) against the Redis-only path,
// in one run on the same machine: `npm run bench:submit -w apps/game-leaderboard`. Writes
// bench-results/game-leaderboard-bench.{json,md}. BENCH_COMMIT_BATCH / BENCH_COMMIT_CONCURRENCY
// override the journal's settings (to compare them).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { createPool } from '@redis-patterns/service-kit';
import {
  httpLoad,
  ratio,
  startPostgres,
  startRedis,
  startServiceProcess,
  writeBenchReport,
  type ScenarioResult,
} from '@redis-patterns/testkit';

const SECONDS = Number(process.env.BENCH_SUBMIT_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 20;
const randomInt = (n: number) => Math.floor(Math.random() * n);

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Pids whose command line contains `text`, and their children (PostgreSQL backends). */
function pidsOf(text: string): number[] {
  const lines = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).split('\n');
  const rows = lines
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const roots = rows.filter((row) => row.args.includes(text)).map((row) => row.pid);
  return [...roots, ...rows.filter((row) => roots.includes(row.ppid)).map((row) => row.pid)];
}

/** Submissions over HTTP to `board`, each a random player of 10^5 with a random score. */
function submitLoad(scenario: string, url: string, board: string) {
  return httpLoad({
    scenario,
    url: `${url}/leaderboards/${board}/scores`,
    connections: CONNECTIONS,
    durationSeconds: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ playerId: `player-${randomInt(1e5)}`, score: randomInt(1e6) }),
        }),
      },
    ],
  });
}

async function main(): Promise<void> {
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  const databaseUrl = await postgres.createDatabase();
  const env: Record<string, string> = {
    NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
    REDIS_URL: redis.url,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
  };
  if (process.env.BENCH_COMMIT_BATCH) env.LEADERBOARD_COMMIT_BATCH = process.env.BENCH_COMMIT_BATCH;
  if (process.env.BENCH_COMMIT_CONCURRENCY)
    env.LEADERBOARD_COMMIT_CONCURRENCY = process.env.BENCH_COMMIT_CONCURRENCY;
  const service = await startServiceProcess(join(__dirname, '..', 'src', 'server.ts'), {
    ...env,
    REDIS_KEY_PREFIX: 'bench-lb',
  });
  const redisOnly = await startServiceProcess(join(__dirname, 'redis-only-server.ts'), {
    ...env,
    REDIS_KEY_PREFIX: 'bench-lb-redis-only',
  });
  const pg = createPool({ url: databaseUrl });
  const redisPids = pidsOf(`:${new URL(redis.url).port}`).slice(0, 1);
  const pgPort = new URL(databaseUrl).port;
  // Backends come and go with the pools: looked up at each run.
  const pgPids = () => pidsOf(`-p ${pgPort}`);
  const scenarios: ScenarioResult[] = [];
  const ratios: Record<string, number> = {};
  const notes: Record<string, string | number | boolean> = {};
  try {
    for (const url of [service.url, redisOnly.url]) {
      const created = await fetch(`${url}/leaderboards/bench-configured`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sort: 'desc', operator: 'best', reset: 'none' }),
      });
      if (created.status !== 200) throw new Error(`PUT bench-configured: ${created.status}`);
    }
    const best = (runs: ScenarioResult[]) => runs.reduce((a, b) => (a.rps >= b.rps ? a : b));
    for (const [board, what] of [
      ['bench-submit', 'implicit board (4 views), best'],
      ['bench-configured', 'configured board (1 set), best'],
    ] as const) {
      // Alternated, so background load hits both paths alike; the better run of each counts.
      const full: ScenarioResult[] = [];
      const redisOnlyRuns: ScenarioResult[] = [];
      const cpu = { full: [] as number[], redisOnly: [] as number[] };
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const [path, url, runs, name] of [
          ['full', service.url, full, 'PostgreSQL (group commit) + Redis index'],
          ['redisOnly', redisOnly.url, redisOnlyRuns, 'Redis only (baseline)'],
        ] as const) {
          // CPU of everything the path uses: the service, Redis, and PostgreSQL's processes.
          const pids = [
            path === 'full' ? service.child.pid! : redisOnly.child.pid!,
            ...redisPids,
            ...pgPids(),
          ];
          const before = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
          const run = await submitLoad(`submit: HTTP, ${name}, ${what}`, url, board);
          const used = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - before;
          runs.push(run);
          cpu[path].push(Math.round((used / Math.max(1, run.requests)) * 1e6));
        }
      }
      notes[
        `CPU µs per submission (service + Redis + PostgreSQL), each run, ${what} (with PostgreSQL / Redis only)`
      ] = `${cpu.full.join(', ')} / ${cpu.redisOnly.join(', ')}`;
      const median = (values: number[]) =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      ratios[
        `CPU per submission Redis only / with PostgreSQL, ${what} (the rps ratio if CPU-bound)`
      ] = ratio(median(cpu.redisOnly), median(cpu.full));
      scenarios.push({ ...best(full), latencyOf: 'one request' });
      scenarios.push({ ...best(redisOnlyRuns), latencyOf: 'one request' });
      notes[`submit rps, each run, ${what} (with PostgreSQL / Redis only)`] =
        `${full.map((r) => r.rps).join(', ')} / ${redisOnlyRuns.map((r) => r.rps).join(', ')}`;
      ratios[`submit rps with PostgreSQL / Redis only, ${what}`] = ratio(
        best(full).rps,
        best(redisOnlyRuns).rps,
      );
    }
    const rows = await pg.query<{ n: string }>('SELECT count(*) AS n FROM lb_scores');
    notes['lb_scores rows after the runs'] = Number(rows.rows[0].n);
    notes['load average (1 min) at the end'] = Math.round(loadavg()[0] * 10) / 10;
    writeBenchReport({
      service: 'game-leaderboard-bench',
      scenarios,
      ratios,
      targets: {
        'submit with PostgreSQL >= 0.5x Redis only (implicit board)':
          ratios['submit rps with PostgreSQL / Redis only, implicit board (4 views), best'] >= 0.5,
        'submit with PostgreSQL >= 0.5x Redis only (configured board)':
          ratios['submit rps with PostgreSQL / Redis only, configured board (1 set), best'] >= 0.5,
      },
      notes: {
        ...notes,
        service: '1 process each (node + swc on the sources), LOG_LEVEL=warn',
        load: `autocannon ${CONNECTIONS} connections x ${SECONDS} s, ${ROUNDS} alternated rounds per path`,
        journal: `LEADERBOARD_COMMIT_BATCH=${env.LEADERBOARD_COMMIT_BATCH ?? 'default'}, LEADERBOARD_COMMIT_CONCURRENCY=${env.LEADERBOARD_COMMIT_CONCURRENCY ?? 'default'}`,
      },
    });
  } finally {
    await Promise.all([service.stop(), redisOnly.stop()]);
    await pg.end();
    await Promise.all([redis.stop(), postgres.stop()]);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.stack}\n`);
  process.exit(1);
});
