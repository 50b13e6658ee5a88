import { eventually } from '@redis-patterns/testkit';
import { productGroup } from '../src/cache/cache-keys';
import { cacheCall, describeOnEveryTopology, type Product, servicePerBlock } from './cache-harness';

describeOnEveryTopology('product-api-cache consistency on %s', {}, ({ servers }) => {
  describe('L1 tier worst case', () => {
    const l1TtlMs = 600;
    // Without the outbox, which would evict this SQL change itself (sql-invalidation.test.ts).
    const replicas = servicePerBlock(2, servers, {
      l1Enabled: true,
      l1TtlMs,
      outboxEnabled: false,
    });

    it('serves an old value for at most CACHE_L1_TTL_MS when an eviction never reaches it', async () => {
      const id = 41;
      const url = `${replicas().url(1)}/products/${id}`;
      await cacheCall(url);
      expect((await cacheCall(url)).cache).toBe('hit');
      // A change whose Redis invalidation happened but whose eviction was never published.
      await servers().pool.query(
        "UPDATE products SET name = 'silent', version = version + 1 WHERE id = $1",
        [id],
      );
      const index = replicas().apps[1].cacheKeys.index(productGroup(id));
      for (const entry of await servers().client.smembers(index)) {
        await servers().client.del(entry, replicas().apps[1].cacheKeys.lease(entry));
      }
      const started = Date.now();
      await eventually(
        'the old value gone from the L1 tier',
        async () => expect(((await cacheCall(url)).body as Product).name).toBe('silent'),
        { timeoutMs: l1TtlMs + 1000, intervalMs: 20 },
      );
      expect(Date.now() - started).toBeLessThan(l1TtlMs + 1000);
    });
  });
});
