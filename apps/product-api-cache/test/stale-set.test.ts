import { delay } from '@redis-patterns/testkit';
import { productCacheValue } from '../src/catalog/cache-groups';
import {
  fillScript,
  invalidateScript,
  readOrLeaseScript,
  type ReadReply,
} from '../src/cache/cache-scripts';
import { decodeEntry } from '../src/cache/cache-entry';
import {
  cacheCall,
  describeOnEveryTopology,
  type Product,
  productInput,
  servicePerBlock,
} from './cache-harness';

describeOnEveryTopology('leases and soft TTL on %s', { faults: true }, ({ servers }) => {
  describe('no stale set', () => {
    // The lease rule alone: the outbox's later eviction would hide a stale fill.
    // The slow reader stalls on a gate, not on PostgreSQL: no hard timeout while it waits.
    const replicas = servicePerBlock(2, servers, {
      l1Enabled: true,
      outboxEnabled: false,
      hardTimeoutMs: 10_000,
    });

    it('a reader that loaded the old row before a write cannot put it back after the invalidation', async () => {
      const [a, b] = replicas().apps;
      const id = 91;
      const key = a.cacheKeys.product(id);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let loadedOld = () => {};
      const oldLoaded = new Promise<void>((resolve) => {
        loadedOld = resolve;
      });
      // The slow reader: misses, takes the lease, reads the row, then stalls before filling.
      const slowRead = a.productCache.read(key, async () => {
        const old = await a.productStore.byId(id);
        loadedOld();
        await gate;
        return productCacheValue(old);
      });
      await oldLoaded;
      const before = (await cacheCall(`${replicas().url(1)}/products/${id}`)).body as Product;
      expect(before.name).not.toBe('after the write');
      const written = await cacheCall(`${replicas().url(0)}/products/${id}`, {
        method: 'PUT',
        body: productInput(before.sku, { name: 'after the write', category: before.category }),
      });
      expect(written.status).toBe(200);
      release();
      const stale = await slowRead;
      expect(JSON.parse(stale.value.body).name).toBe(before.name);
      // Room for the slow reader's fill (not awaited by the read) to land, if it could.
      await delay(100);

      const cached = await servers().client.get(key.entry);
      if (cached !== null)
        expect(JSON.parse(decodeEntry(cached).body).name).toBe('after the write');
      for (const app of [a, b]) {
        const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
        expect(((await cacheCall(`${url}/products/${id}`)).body as Product).name).toBe(
          'after the write',
        );
      }
      const final = await servers().client.get(key.entry);
      expect(final).not.toBeNull();
      expect(JSON.parse(decodeEntry(final ?? '').body).name).toBe('after the write');
    });

    it('a read that arrives after a write on another replica does not join a lookup started before it', async () => {
      const b = replicas().apps[1];
      const id = 93;
      const key = b.cacheKeys.product(id);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let loadedOld = () => {};
      const oldLoaded = new Promise<void>((resolve) => {
        loadedOld = resolve;
      });
      const slowLookup = b.productCache.read(key, async () => {
        const old = await b.productStore.byId(id);
        loadedOld();
        await gate;
        return productCacheValue(old);
      });
      try {
        await oldLoaded;
        const { rows } = await servers().pool.query<{ sku: string; category: string }>(
          'SELECT sku, category FROM products WHERE id = $1',
          [id],
        );
        const written = await cacheCall(`${replicas().url(0)}/products/${id}`, {
          method: 'PUT',
          body: productInput(rows[0].sku, {
            name: 'newer than the lookup',
            category: rows[0].category,
          }),
        });
        expect(written.status).toBe(200);
        const read = await cacheCall(`${replicas().url(1)}/products/${id}`);
        expect((read.body as Product).name).toBe('newer than the lookup');
      } finally {
        release();
        await slowLookup;
      }
    });

    it('the Lua contract: only the current lease holder fills, and an invalidation revokes leases', async () => {
      const key = replicas().apps[0].cacheKeys.product(92);
      const keys: Parameters<typeof readOrLeaseScript.run>[1] = [key.entry, key.lease, key.index];
      const now = Date.now();
      expect(
        await readOrLeaseScript.run(servers().client, keys, ['first', 5000, now, 60000]),
      ).toEqual([3]);
      expect(
        await readOrLeaseScript.run(servers().client, keys, ['second', 5000, now, 60000]),
      ).toEqual([4]);
      expect(
        await fillScript.run(
          servers().client,
          [key.entry, key.lease],
          ['second', `${now + 1000}|200||{}`, 5000],
        ),
      ).toBe(0);
      expect(await invalidateScript.run(servers().client, [key.index], [])).toBe(1);
      expect(
        await fillScript.run(
          servers().client,
          [key.entry, key.lease],
          ['first', `${now + 1000}|200||{}`, 5000],
        ),
      ).toBe(0);
      expect(await servers().client.exists(key.entry, key.lease, key.index)).toBe(0);
      expect(
        await readOrLeaseScript.run(servers().client, keys, ['third', 5000, now, 60000]),
      ).toEqual([3]);
      expect(
        await fillScript.run(
          servers().client,
          [key.entry, key.lease],
          ['third', `${now + 1000}|200||{}`, 5000],
        ),
      ).toBe(1);
      const hit: ReadReply = await readOrLeaseScript.run(servers().client, keys, [
        'fourth',
        5000,
        now,
        60000,
      ]);
      expect(hit[0]).toBe(0);
      // Past the soft expiry: one caller gets the refresh lease, the next one is told to serve stale.
      expect(
        (
          await readOrLeaseScript.run(servers().client, keys, ['fifth', 5000, now + 2000, 60000])
        )[0],
      ).toBe(1);
      expect(
        (
          await readOrLeaseScript.run(servers().client, keys, ['sixth', 5000, now + 2000, 60000])
        )[0],
      ).toBe(2);
    });
  });
});
