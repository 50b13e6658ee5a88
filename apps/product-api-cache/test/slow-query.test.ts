import { delay, until, percentile } from '@redis-patterns/testkit';
import {
  type Answer,
  cacheCall,
  cacheOnEveryReplica,
  dbQueries,
  describeOnEveryTopology,
  lockProducts,
  log,
  range,
  servicePerBlock,
} from './cache-harness';

describeOnEveryTopology('PostgreSQL away or slow on %s', { faults: true }, ({ kind, servers }) => {
  describe('a slow query: soft and hard loader timeouts', () => {
    const ttlMs = 1000;
    const softTimeoutMs = 50;
    const hardTimeoutMs = 600;
    const replicas = servicePerBlock(2, servers, {
      l1Enabled: false,
      ttlMs,
      ttlJitter: 0,
      staleGraceMs: 30_000,
      softTimeoutMs,
      hardTimeoutMs,
      // Loads stalled by the lock make XFetch refresh early, which the query counts exclude.
      earlyRefreshBeta: 0,
    });

    /** 100 reads of stale copies while the table is locked, and what the machine added. */
    async function staleRound(ids: number[]) {
      await cacheOnEveryReplica(replicas(), ids);
      await delay(ttlMs + 100);
      const release = await lockProducts(servers());
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
              answers.push(await cacheCall(`${replicas().url(worker)}/products/${id}`));
              floor.push((await cacheCall(`${replicas().url(worker)}/health/live`)).ms);
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
        await delay(1000); // the stalled refreshes' leases lapse (CACHE_LEASE_MS)
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
          (await cacheCall(`${replicas().url(0)}/products/${ids[0]}`)).cache === 'hit' || undefined,
        5000,
      );
      // Up to three rounds of caching 100 products and reading them back on a busy machine.
    }, 90_000);

    it('without a copy, 503 at the hard timeout; the load goes on and fills the entry', async () => {
      const id = 290;
      const release = await lockProducts(servers());
      let answer: Answer;
      const before = await dbQueries(replicas().apps, 'product_by_id');
      try {
        answer = await cacheCall(`${replicas().url(0)}/products/${id}`);
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
          const read = await cacheCall(`${replicas().url(1)}/products/${id}`);
          return read.cache === 'hit' ? read : undefined;
        },
        3000,
      );
      expect(filled.status).toBe(200);
      expect((await dbQueries(replicas().apps, 'product_by_id')) - before).toBe(1);
    });
  });
});
