import { Agent, request } from 'node:http';
import { freemem, loadavg } from 'node:os';
import { join } from 'node:path';
import {
  closeRedis,
  createRedis,
  waitForReady,
  type RedisClient,
} from '@redis-patterns/redis-core';
import { createPool, runMigrations } from '@redis-patterns/service-kit';
import {
  httpLoad,
  percentile,
  ratio,
  startPostgres,
  startRedis,
  startServiceProcess,
  writeBenchReport,
  type ScenarioResult,
} from '@redis-patterns/testkit';
import { leaderboardKeys } from '../src/leaderboard/leaderboard-keys';
import { arrivalMember } from '../src/leaderboard/score-encoding';
import { seedBoard, seededPlayerId } from '../src/leaderboard/seed-board';

const PREFIX = 'bench-lb';
const RETENTION = {
  daily: 86_400_000,
  weekly: 86_400_000,
  monthly: 86_400_000,
  period: 86_400_000,
};
const QUERY_SECONDS = 2;
const SUBMIT_SECONDS = 5;
// 10^7 players take 1.3 GB in Redis and minutes of seeding on 2 busy cores: opt-in only.
const SIZES = [10_000, 100_000, 1_000_000].concat(
  process.env.BENCH_TEN_MILLION === '1' && freemem() > 4 * 2 ** 30 ? [10_000_000] : [],
);

const randomInt = (n: number) => Math.floor(Math.random() * n);

/** Calls `fn` `count` times, `concurrency` calls in flight. */
async function repeat(fn: () => Promise<unknown>, count: number, concurrency: number) {
  let left = count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await fn();
    }),
  );
}

const ms = (value: number) => Math.round(value * 1000) / 1000;

const agent = new Agent({ keepAlive: true, maxSockets: 8 });
function timedGet(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (response) => {
      response.resume();
      response.on('end', () =>
        response.statusCode === 200
          ? resolve()
          : reject(new Error(`${response.statusCode} ${url}`)),
      );
    })
      .on('error', reject)
      .end();
  });
}

/** Raw ZADDs through ioredis pipelines of 100, 4 pipelines in flight: the ceiling. */
async function rawZadd(redis: RedisClient, seconds: number): Promise<ScenarioResult> {
  const key = `${PREFIX}:{raw}:all`;
  const latencies: number[] = [];
  let commands = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < deadline) {
        const pipeline = redis.pipeline();
        for (let i = 0; i < 100; i += 1)
          pipeline.zadd(key, randomInt(1e6), `player-${randomInt(1e5)}`);
        const t0 = performance.now();
        await pipeline.exec();
        latencies.push(performance.now() - t0);
        commands += 100;
      }
    }),
  );
  return {
    scenario: 'submit: raw ZADD, ioredis pipelines of 100 (ceiling)',
    requests: commands,
    rps: Math.round(commands / seconds),
    p50Ms: Math.round(percentile(latencies, 50) * 1000) / 1000,
    p99Ms: Math.round(percentile(latencies, 99) * 1000) / 1000,
    errors: 0,
    non2xx: 0,
    latencyOf: 'one pipeline',
  };
}

/** Submissions over HTTP to `board`, each a random player of 10^5 with a random score. */
function submitLoad(scenario: string, url: string, board: string) {
  return httpLoad({
    scenario,
    url: `${url}/leaderboards/${board}/scores`,
    connections: 20,
    durationSeconds: SUBMIT_SECONDS,
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

/** Polls `url` until it answers 200 (a board whose index is being rebuilt answers 503). */
async function until200(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(url);
    await response.body?.cancel();
    if (response.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} still ${response.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const usedMemory = async (client: RedisClient) =>
  Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1] ?? 0);

async function main(): Promise<void> {
  const [redis, postgres] = await Promise.all([startRedis({ faults: true }), startPostgres()]);
  const client = createRedis({ url: redis.url, commandTimeoutMs: 60_000 });
  const databaseUrl = await postgres.createDatabase();
  const pg = createPool({ url: databaseUrl, statementTimeoutMs: 600_000 });
  await runMigrations(pg, join(__dirname, '..', 'migrations'));
  const env = {
    NODE_OPTIONS: '--conditions=@redis-patterns/source -r @swc-node/register',
    REDIS_URL: redis.url,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    // A 10^6 board rebuilds in seconds: the first read waits for it rather than polling.
    LEADERBOARD_REBUILD_WAIT_MS: '30000',
    // A rebuild restarts from scratch when one of its Redis batches times out: on 2 cores shared
    // with other work, 500 ms is too short for 10^4 batches in a row. Reads are not bounded by it.
    REDIS_COMMAND_TIMEOUT_MS: '10000',
  };
  const service = await startServiceProcess(join(__dirname, '..', 'src', 'server.ts'), {
    ...env,
    REDIS_KEY_PREFIX: PREFIX,
  });
  const redisOnly = await startServiceProcess(join(__dirname, 'redis-only-server.ts'), {
    ...env,
    REDIS_KEY_PREFIX: `${PREFIX}-redis-only`,
  });
  const scenarios: ScenarioResult[] = [];
  const ratios: Record<string, number> = {};
  const notes: Record<string, string | number | boolean> = {};
  try {
    await waitForReady(client, 5000);
    // An implicit board writes 4 sorted sets (and 4 rows) per submission, a configured board 1.
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
      // Alternated, twice each, so background load hits both paths alike.
      const full: ScenarioResult[] = [];
      const redisOnlyRuns: ScenarioResult[] = [];
      for (let round = 0; round < 2; round += 1) {
        full.push(
          await submitLoad(
            `submit: HTTP, PostgreSQL (group commit) + Redis index, ${what}`,
            service.url,
            board,
          ),
        );
        redisOnlyRuns.push(
          await submitLoad(`submit: HTTP, Redis only (baseline), ${what}`, redisOnly.url, board),
        );
      }
      scenarios.push({ ...best(full), latencyOf: 'one request' });
      scenarios.push({ ...best(redisOnlyRuns), latencyOf: 'one request' });
      notes[`submit rps, each run, ${what} (with PostgreSQL / Redis only)`] =
        `${full.map((r) => r.rps).join(', ')} / ${redisOnlyRuns.map((r) => r.rps).join(', ')}`;
      ratios[`submit rps with PostgreSQL / Redis only, ${what}`] = ratio(
        best(full).rps,
        best(redisOnlyRuns).rps,
      );
    }
    const submitFull = scenarios[0];
    const raw = await rawZadd(client, SUBMIT_SECONDS);
    scenarios.push(raw);
    ratios['submit rps: HTTP with PostgreSQL / raw ZADD pipelines'] = ratio(
      submitFull.rps,
      raw.rps,
    );

    const keys = leaderboardKeys(PREFIX);
    for (const size of SIZES) {
      const board = `size-${size}`;
      const seedStarted = Date.now();
      await seedBoard(pg, {
        board,
        players: size,
        periods: false,
        names: false,
        nowMs: Date.now(),
        retentionMs: RETENTION,
      });
      notes[`seed ${size} players into PostgreSQL (ms)`] = Date.now() - seedStarted;
      const memoryBefore = await usedMemory(client);
      const rebuildStarted = Date.now();
      // About 10 minutes per 10^6 on a loaded machine, at least 10.
      await until200(`${service.url}/leaderboards/${board}/top`, Math.max(600_000, size * 0.6));
      notes[`rebuild of a ${size} board from PostgreSQL, first read to 200 (ms)`] =
        Date.now() - rebuildStarted;
      notes[`redis bytes per member @ ${size} (sorted set + arrival hash)`] = Math.round(
        ((await usedMemory(client)) - memoryBefore) / size,
      );
    }
    notes['redis used_memory with every board'] =
      /used_memory_human:(\S+)/.exec(await client.info('memory'))?.[1] ?? '?';

    const kinds = [
      ['top-10', () => '/top?limit=10'],
      ['rank', (size: number) => `/players/${seededPlayerId(1 + randomInt(size))}`],
      [
        'around-me r=5',
        (size: number) => `/players/${seededPlayerId(1 + randomInt(size))}/around?radius=5`,
      ],
    ] as const;
    const loads = new Map<string, ScenarioResult>();
    for (const size of SIZES) {
      for (const [kind, path] of kinds) {
        const name = `${kind} @ ${size.toExponential(0)} players`;
        const board = `/leaderboards/size-${size}`;
        const load = await httpLoad({
          scenario: name,
          url: `${service.url}${board}/top`,
          connections: 10,
          durationSeconds: QUERY_SECONDS,
          requests: [
            { method: 'GET', setupRequest: (req) => ({ ...req, path: board + path(size) }) },
          ],
        });
        loads.set(name, load);
      }
    }
    // autocannon reports whole milliseconds, and the 2 cores are shared with other work: the
    // timed samples (sub-ms) cycle through the sizes request by request, so background load
    // hits every size alike and the ratio shows the cost of N, not the neighbours.
    const samples = new Map<string, number[]>();
    const sampleOf = (name: string) => {
      if (!samples.has(name)) samples.set(name, []);
      return samples.get(name) as number[];
    };
    const redisSamples = new Map<number, number[]>(SIZES.map((size) => [size, []]));
    for (const [kind, path] of kinds) {
      let turn = 0;
      await repeat(
        async () => {
          const size = SIZES[turn++ % SIZES.length];
          const t0 = performance.now();
          await timedGet(`${service.url}/leaderboards/size-${size}${path(size)}`);
          const name = `${kind} @ ${size.toExponential(0)} players`;
          sampleOf(name).push(performance.now() - t0);
        },
        2000 * SIZES.length,
        4,
      );
    }
    let turn = 0;
    await repeat(
      async () => {
        const size = SIZES[turn++ % SIZES.length];
        const key = keys.index(`size-${size}`, 'all');
        const player = seededPlayerId(1 + randomInt(size));
        const t0 = performance.now();
        // What the rank script does: the arrival from the hash, then ZREVRANK of the member.
        const arrival = await client.hget(keys.arrivals(key), player);
        await client.zrevrank(key, arrivalMember(Number(arrival), player));
        redisSamples.get(size)?.push(performance.now() - t0);
      },
      5000 * SIZES.length,
      1,
    );
    const preciseP99 = (name: string) => ms(percentile(samples.get(name) ?? [], 99));
    for (const [name, load] of loads) {
      scenarios.push({
        ...load,
        timedP50Ms: ms(percentile(samples.get(name) ?? [], 50)),
        timedP99Ms: preciseP99(name),
      });
    }
    for (const [size, latencies] of redisSamples) {
      scenarios.push({
        scenario: `redis HGET + ZREVRANK alone @ ${size.toExponential(0)} players`,
        requests: latencies.length,
        rps: 0,
        p50Ms: ms(percentile(latencies, 50)),
        p99Ms: ms(percentile(latencies, 99)),
        errors: 0,
        non2xx: 0,
      });
    }
    const rankRatio = ratio(preciseP99('rank @ 1e+6 players'), preciseP99('rank @ 1e+4 players'));
    ratios['rank p99 10^6 / 10^4 (timed)'] = rankRatio;
    ratios['rank p99 10^6 / 10^4 (autocannon, whole ms)'] = ratio(
      loads.get('rank @ 1e+6 players')?.p99Ms ?? 0,
      loads.get('rank @ 1e+4 players')?.p99Ms ?? 0,
    );
    ratios['top-10 p99 10^6 / 10^4 (timed)'] = ratio(
      preciseP99('top-10 @ 1e+6 players'),
      preciseP99('top-10 @ 1e+4 players'),
    );
    ratios['around-me p99 10^6 / 10^4 (timed)'] = ratio(
      preciseP99('around-me r=5 @ 1e+6 players'),
      preciseP99('around-me r=5 @ 1e+4 players'),
    );
    ratios['redis HGET + ZREVRANK p99 10^6 / 10^4'] = ratio(
      percentile(redisSamples.get(1_000_000) ?? [], 99),
      percentile(redisSamples.get(10_000) ?? [], 99),
    );
    if (SIZES.includes(10_000_000)) {
      for (const kind of ['rank', 'top-10', 'around-me r=5']) {
        ratios[`${kind} p99 10^7 / 10^4 (timed)`] = ratio(
          preciseP99(`${kind} @ 1e+7 players`),
          preciseP99(`${kind} @ 1e+4 players`),
        );
      }
    }
    notes['load average (1 min) at the end'] = Math.round(loadavg()[0] * 10) / 10;
    writeBenchReport({
      service: 'game-leaderboard',
      scenarios,
      ratios,
      targets: {
        'rank p99 at 10^6 <= 1.5x rank p99 at 10^4': rankRatio <= 1.5,
        'submit with PostgreSQL >= 0.5x Redis only (implicit board)':
          ratios['submit rps with PostgreSQL / Redis only, implicit board (4 views), best'] >= 0.5,
        'submit with PostgreSQL >= 0.5x Redis only (configured board)':
          ratios['submit rps with PostgreSQL / Redis only, configured board (1 set), best'] >= 0.5,
      },
      notes: {
        ...notes,
        service: '1 process (node + swc on the sources), LOG_LEVEL=warn',
        load: `autocannon 10 connections x ${QUERY_SECONDS} s per query, 20 x ${SUBMIT_SECONDS} s for submissions; timed: 2000 requests per query and size, sizes cycled request by request, 4 in flight`,
      },
    });
  } finally {
    agent.destroy();
    await Promise.all([service.stop(), redisOnly.stop()]);
    await closeRedis(client);
    await pg.end();
    await Promise.all([redis.stop(), postgres.stop()]);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench failed: ${error.stack}\n`);
  process.exit(1);
});
