import { delay, eventually } from '@redis-patterns/testkit';
import { cacheCall, dbQueries, describeOnEveryTopology, servicePerBlock } from './cache-harness';

describeOnEveryTopology('leases and soft TTL on %s', { faults: true }, ({ servers, postgres }) => {
  describe('soft TTL, stale-while-revalidate and a database outage', () => {
    const ttlMs = 1000;
    const staleGraceMs = 2500;
    // Soft timeout 0: past the soft TTL every reader is answered stale at once (pure
    // stale-while-revalidate); slow-query.test.ts covers the 50 ms wait.
    const replicas = servicePerBlock(2, servers, {
      l1Enabled: false,
      ttlMs,
      ttlJitter: 0,
      staleGraceMs,
      softTimeoutMs: 0,
      // The one refresh counted here is the soft TTL's, not an early one (XFetch).
      earlyRefreshBeta: 0,
    });

    it('serves a value past its soft TTL as stale while exactly one refresh runs', async () => {
      const url = (i: number) => `${replicas().url(i)}/products/101`;
      expect((await cacheCall(url(0))).cache).toBe('miss');
      await delay(ttlMs + 100);
      const before = await dbQueries(replicas().apps, 'product_by_id');
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => cacheCall(url(i))));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(answers.some((a) => a.cache === 'stale')).toBe(true);
      await eventually('the one refresh landed', async () =>
        expect((await dbQueries(replicas().apps, 'product_by_id')) - before).toBe(1),
      );
      expect((await cacheCall(url(1))).cache).toBe('hit');
    });

    it('while PostgreSQL is down: stale within the grace period, 503 after it', async () => {
      const url = `${replicas().url(0)}/products/102`;
      expect((await cacheCall(url)).cache).toBe('miss');
      await delay(ttlMs + 100);
      await postgres().pause();
      try {
        const stale = await cacheCall(url);
        expect(stale).toMatchObject({ status: 200, cache: 'stale' });
        expect(stale.ms).toBeLessThan(1000);
        const cold = await cacheCall(`${replicas().url(1)}/products/103`);
        expect(cold.status).toBe(503);
        expect(cold.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
        await delay(staleGraceMs);
        const expired = await cacheCall(url);
        expect(expired.status).toBe(503);
      } finally {
        await postgres().resume();
      }
      await eventually('served again once PostgreSQL is back', async () =>
        expect((await cacheCall(url)).status).toBe(200),
      );
    });
  });
});
