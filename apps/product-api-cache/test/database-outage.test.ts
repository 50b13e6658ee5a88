import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  topologiesUnderTest,
  until,
  type PostgresServer,
  type Replicas,
} from '@redis-patterns/testkit';
import {
  dbQueries,
  log,
  request,
  sleep,
  standaloneServer,
  startFilePostgres,
  startServers,
  startService,
  type Answer,
  type Servers,
} from './harness';

let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startFilePostgres({ faults: true });
});
afterAll(async () => {
  await postgres?.stop();
});

/** The p-th percentile (0..100) of `values`, nearest rank. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * A slow query without a hook in the service: an open transaction holds an ACCESS EXCLUSIVE
 * lock on `products`, so every SELECT of the catalogue waits (up to the statement timeout).
 */
async function lockProducts(servers: Servers): Promise<() => Promise<void>> {
  const client = await servers.pool.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE products IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await client.query('ROLLBACK').finally(() => client.release());
  };
}

/** Statements of the test database now waiting for the lock. */
async function waitingOnLock(servers: Servers): Promise<number> {
  const { rows } = await servers.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
  );
  return rows[0].n;
}

/** Reads each id on each replica until Redis holds it (the fill does not delay the answer). */
async function cache(replicas: Replicas<ServiceInstance>, ids: number[]): Promise<void> {
  // Ten at a time: with all of them at once, a round on a busy machine outlasts a 1 s TTL.
  for (let i = 0; i < ids.length; i += 10) {
    await Promise.all(
      ids.slice(i, i + 10).map((id) =>
        until(
          `product ${id} cached`,
          async () => {
            const answers = await Promise.all(
              replicas.urls.map((url) => request(`${url}/products/${id}`)),
            );
            return answers.every((answer) => answer.cache === 'hit') || undefined;
          },
          5000,
        ),
      ),
    );
  }
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

describe.each(topologiesUnderTest())('PostgreSQL away or slow on %s', (kind) => {
  let servers: Servers;
  beforeAll(async () => {
    servers = await startServers(kind, postgres);
  });
  afterAll(async () => {
    await servers?.stop();
  });

  describe('PostgreSQL SIGSTOP drill', () => {
    // The hits must outlast caching them and the 1.5 s pause on a busy machine.
    const ttlMs = 3000;
    const softTimeoutMs = 50;
    const hardTimeoutMs = 500;
    let replicas: Replicas<ServiceInstance>;
    beforeAll(async () => {
      replicas = await startService(2, servers, {
        l1Enabled: true,
        ttlMs,
        ttlJitter: 0,
        staleGraceMs: 10_000,
        softTimeoutMs,
        hardTimeoutMs,
      });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    it('serves hits and stale copies, answers 503 only for what it cannot serve, and stays ready', async () => {
      const staleIds = range(101, 10);
      const hitIds = range(111, 10);
      await cache(replicas, staleIds);
      await sleep(ttlMs + 100);
      await cache(replicas, hitIds);
      const hits: Answer[] = [];
      const stale: Answer[] = [];
      const cold: Answer[] = [];
      const ready: Answer[] = [];
      let pausing = true;
      await postgres.pause();
      const pausedAt = Date.now();
      try {
        const probes = Promise.all(
          replicas.urls.map(async (url) => {
            while (pausing) ready.push(await request(`${url}/health/ready`));
          }),
        );
        // Three readers side by side for 1.5 s: hits, stale copies, and ids never cached.
        const during = () => Date.now() - pausedAt < 1500;
        await Promise.all([
          (async () => {
            for (let i = 0; during(); i += 1)
              hits.push(await request(`${replicas.url(i)}/products/${hitIds[i % hitIds.length]}`));
          })(),
          (async () => {
            for (let i = 0; during(); i += 1)
              stale.push(
                await request(`${replicas.url(i)}/products/${staleIds[i % staleIds.length]}`),
              );
          })(),
          ...replicas.urls.map(async (url, replica) => {
            for (let i = 0; during(); i += 1)
              cold.push(await request(`${url}/products/${121 + replica * 50 + i}`));
          }),
        ]);
        pausing = false;
        await probes;
      } finally {
        pausing = false;
        await postgres.resume();
      }
      const slowest = (answers: Answer[]) => Math.round(Math.max(...answers.map((a) => a.ms)));
      log(
        `${kind} drill: ${hits.length} hits (slowest ${slowest(hits)} ms), ${stale.length} stale (slowest ${slowest(stale)} ms), ${cold.length} uncached 503 (${Math.round(Math.min(...cold.map((a) => a.ms)))}-${slowest(cold)} ms), ${ready.length} readiness probes`,
      );
      expect(hits.map((a) => `${a.status} ${a.cache}`)).toEqual(hits.map(() => '200 hit'));
      expect(stale.map((a) => `${a.status} ${a.cache}`)).toEqual(stale.map(() => '200 stale'));
      expect(slowest(stale)).toBeLessThan(softTimeoutMs + 150);
      expect(stale[0].headers['cache-control']).toMatch(/max-age=0, .*stale-if-error=[1-9]/);
      for (const answer of cold) {
        expect(answer.status).toBe(503);
        expect(answer.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
        expect(answer.headers['retry-after']).toBe('1');
        expect(answer.headers['cache-control']).toBe('no-store');
        expect(answer.ms).toBeGreaterThanOrEqual(hardTimeoutMs - 5);
        expect(answer.ms).toBeLessThan(hardTimeoutMs + 250);
      }
      expect(ready.length).toBeGreaterThan(2);
      expect(ready.map((a) => a.status)).toEqual(ready.map(() => 200));
      expect(ready.at(-1)?.body).toMatchObject({ checks: { postgres: 'degraded', serving: 'ok' } });

      // Back: what could not be served is served again, and cached.
      await until(
        'uncached reads served again',
        async () => (await request(`${replicas.url(0)}/products/121`)).status === 200 || undefined,
        5000,
      );
    });
  });

  describe('a slow query: soft and hard loader timeouts', () => {
    const ttlMs = 1000;
    const softTimeoutMs = 50;
    const hardTimeoutMs = 600;
    let replicas: Replicas<ServiceInstance>;
    beforeAll(async () => {
      replicas = await startService(2, servers, {
        l1Enabled: false,
        ttlMs,
        ttlJitter: 0,
        staleGraceMs: 30_000,
        softTimeoutMs,
        hardTimeoutMs,
        // Loads stalled by the lock make XFetch refresh early, which the query counts exclude.
        earlyRefreshBeta: 0,
      });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    /** 100 reads of stale copies while the table is locked, and what the machine added. */
    async function staleRound(ids: number[]) {
      await cache(replicas, ids);
      await sleep(ttlMs + 100);
      const release = await lockProducts(servers);
      const answers: Answer[] = [];
      const floor: number[] = [];
      try {
        // Each read holds its entry's refresh lease: it waits the soft timeout, then the copy.
        // Two readers, each on its own ids; after each read, the liveness route of the same
        // replica measures what the machine itself adds (HTTP and event-loop delay).
        const queue = [...ids];
        await Promise.all(
          range(0, 2).map(async (worker) => {
            for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
              answers.push(await request(`${replicas.url(worker)}/products/${id}`));
              floor.push((await request(`${replicas.url(worker)}/health/live`)).ms);
            }
          }),
        );
      } finally {
        await release();
      }
      const ms = answers.map((answer) => answer.ms);
      const round = {
        answers,
        min: Math.min(...ms),
        p50: percentile(ms, 50),
        p99: percentile(ms, 99),
        noise: percentile(floor, 99),
      };
      log(
        `${kind} soft timeout ${softTimeoutMs} ms, table locked: ${answers.length} stale reads, p50 ${round.p50.toFixed(1)} ms, p99 ${round.p99.toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms (liveness meanwhile: p99 ${round.noise.toFixed(1)} ms)`,
      );
      return round;
    }

    it('with a stale copy, answers it within the soft timeout + 20 ms (p99), and refreshes once the query ends', async () => {
      const ids = range(151, 100);
      // The bound, soft timeout + 20 ms at p99, allowing only for what the machine
      // itself added beyond 5 ms (the liveness p99). A shared machine's bursts can still spoil
      // one round: up to three rounds, the bound must hold in one. A soft timeout that did not
      // fire would wait for the statement timeout (1 s) in every round.
      const within = (round: { p99: number; noise: number }) =>
        round.p99 <= softTimeoutMs + 20 + Math.max(0, round.noise - 5);
      let round = await staleRound(ids);
      for (let attempt = 1; attempt < 3 && !within(round); attempt += 1) {
        await sleep(1000); // the stalled refreshes' leases lapse (CACHE_LEASE_MS)
        round = await staleRound(ids);
      }
      expect(round.answers.map((a) => `${a.status} ${a.cache}`)).toEqual(
        ids.map(() => '200 stale'),
      );
      expect(round.min).toBeGreaterThanOrEqual(softTimeoutMs - 5);
      expect(round.p50).toBeLessThanOrEqual(softTimeoutMs + 20);
      expect(round.p99).toBeLessThanOrEqual(softTimeoutMs + 20 + Math.max(0, round.noise - 5));
      // The stalled refreshes finish once the lock is gone (or failed at the statement
      // timeout and their leases lapse): the entry is fresh again.
      await until(
        'refreshed after the lock',
        async () =>
          (await request(`${replicas.url(0)}/products/${ids[0]}`)).cache === 'hit' || undefined,
        5000,
      );
      // Up to three rounds of caching 100 products and reading them back on a busy machine.
    }, 90_000);

    it('without a copy, 503 at the hard timeout; the load goes on and fills the entry', async () => {
      const id = 290;
      const release = await lockProducts(servers);
      let answer: Answer;
      const before = await dbQueries(replicas.apps, 'product_by_id');
      try {
        answer = await request(`${replicas.url(0)}/products/${id}`);
      } finally {
        // Before the statement timeout (1 s): the stalled load completes.
        await release();
      }
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.ms).toBeGreaterThanOrEqual(hardTimeoutMs - 5);
      expect(answer.ms).toBeLessThan(hardTimeoutMs + 150);
      const filled = await until(
        'the stalled load filled the entry',
        async () => {
          const read = await request(`${replicas.url(1)}/products/${id}`);
          return read.cache === 'hit' ? read : undefined;
        },
        3000,
      );
      expect(filled.status).toBe(200);
      expect((await dbQueries(replicas.apps, 'product_by_id')) - before).toBe(1);
    });
  });
});

// Replica-local logic (the waiting list of one replica) and whole-Redis outages: standalone.
describe('on standalone', () => {
  let servers: Servers;
  beforeAll(async () => {
    servers = await startServers('standalone', postgres);
  });
  afterAll(async () => {
    await servers?.stop();
  });

  describe('lease waiters per key are capped', () => {
    const maxWaiters = 3;
    const ttlMs = 1000;
    let replicas: Replicas<ServiceInstance>;
    beforeAll(async () => {
      replicas = await startService(1, servers, {
        l1Enabled: false,
        ttlMs,
        ttlJitter: 0,
        staleGraceMs: 30_000,
        maxWaiters,
        softTimeoutMs: 800,
        hardTimeoutMs: 900,
      });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    /** One read stalled on the lock, then `n` more: the first `maxWaiters` queue, the rest do not. */
    async function burst(id: number, n: number) {
      const url = `${replicas.url(0)}/products/${id}`;
      const first = request(url);
      await until(
        'the first read waits for the lock',
        async () => (await waitingOnLock(servers)) > 0 || undefined,
        3000,
      );
      const settled: Answer[] = [];
      const rest = Array.from({ length: n }, () =>
        request(url).then((answer) => {
          settled.push(answer);
          return answer;
        }),
      );
      const overflow = await until(
        'the reads past the cap answered',
        async () => (settled.length >= n - maxWaiters ? settled.slice() : undefined),
        3000,
      );
      return { first, rest: Promise.all(rest), overflow };
    }

    it('without a copy: past the cap, 503 LOAD_QUEUE_FULL with Retry-After at once; the queued ones get the value', async () => {
      const release = await lockProducts(servers);
      let result: Awaited<ReturnType<typeof burst>>;
      try {
        result = await burst(291, 10);
        expect(result.overflow).toHaveLength(10 - maxWaiters);
        for (const answer of result.overflow) {
          expect(answer.status).toBe(503);
          expect(answer.body).toMatchObject({ code: 'LOAD_QUEUE_FULL' });
          expect(answer.headers['retry-after']).toBe('1');
          expect(answer.ms).toBeLessThan(200);
        }
      } finally {
        await release();
      }
      const queued = [await result.first, ...(await result.rest).filter((a) => a.status !== 503)];
      expect(queued.map((a) => `${a.status} ${a.cache}`)).toEqual(
        Array.from({ length: 1 + maxWaiters }, () => '200 miss'),
      );
    });

    it('with a stale copy: past the cap, the stale copy at once', async () => {
      const id = 292;
      await cache(replicas, [id]);
      await sleep(ttlMs + 100);
      const release = await lockProducts(servers);
      try {
        const { first, rest, overflow } = await burst(id, 10);
        expect(overflow.map((a) => `${a.status} ${a.cache}`)).toEqual(
          overflow.map(() => '200 stale'),
        );
        expect(Math.max(...overflow.map((a) => a.ms))).toBeLessThan(200);
        const waited = [await first, ...(await rest)];
        expect(waited.every((a) => a.status === 200 && a.cache === 'stale')).toBe(true);
      } finally {
        await release();
      }
    });
  });

  describe('readiness when Redis and PostgreSQL are both away', () => {
    let either: Replicas<ServiceInstance>;
    let database: Replicas<ServiceInstance>;
    beforeAll(async () => {
      either = await startService(1, servers);
      database = await startService(1, servers, {}, { readiness: 'database' });
    });
    afterAll(async () => {
      await either?.close();
      await database?.close();
    });

    const readiness = async (replicas: Replicas<ServiceInstance>) =>
      request(`${replicas.url(0)}/health/ready`);

    it('drops readiness only when both are unusable (or, as configured, when PostgreSQL is)', async () => {
      const redis = standaloneServer(servers);
      expect((await readiness(either)).status).toBe(200);
      await postgres.pause();
      try {
        expect((await readiness(either)).status).toBe(200);
        const followsDatabase = await readiness(database);
        expect(followsDatabase.status).toBe(503);
        expect(followsDatabase.body).toMatchObject({ checks: { serving: 'down' } });
        await redis.pause();
        try {
          const down = await readiness(either);
          expect(down.status).toBe(503);
          expect(down.body).toMatchObject({ checks: { serving: 'down', postgres: 'degraded' } });
        } finally {
          await redis.resume();
        }
        await until(
          'ready again with Redis back',
          async () => (await readiness(either)).status === 200 || undefined,
          5000,
        );
      } finally {
        await postgres.resume();
      }
      await until(
        'ready again with PostgreSQL back',
        async () => (await readiness(database)).status === 200 || undefined,
        5000,
      );
    });
  });
});
