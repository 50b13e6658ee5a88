import type { ServiceInstance } from '@redis-patterns/service-kit';
import { topologiesUnderTest, type PostgresServer, type Replicas } from '@redis-patterns/testkit';
import { productCacheValue } from '../src/catalog/cache-groups';
import { fillScript, invalidateScript, readOrLeaseScript } from '../src/cache/cache-scripts';
import { decodeEntry } from '../src/cache/cache-entry';
import {
  dbQueries,
  productInput,
  request,
  sleep,
  startFilePostgres,
  startServers,
  startService,
  type Servers,
} from './harness';

interface Product {
  id: number;
  sku: string;
  name: string;
  category: string;
}

let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startFilePostgres({ faults: true });
});
afterAll(async () => {
  await postgres?.stop();
});

describe.each(topologiesUnderTest())('leases and soft TTL on %s', (kind) => {
  let servers: Servers;
  beforeAll(async () => {
    servers = await startServers(kind, postgres);
  });
  afterAll(async () => {
    await servers?.stop();
  });

  describe('no stale set', () => {
    let replicas: Replicas<ServiceInstance>;
    beforeAll(async () => {
      // The lease rule alone: the outbox's later eviction would hide a stale fill.
      // The slow reader stalls on a gate, not on PostgreSQL: no hard timeout while it waits.
      replicas = await startService(2, servers, {
        l1Enabled: true,
        outboxEnabled: false,
        hardTimeoutMs: 10_000,
      });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    it('a reader that loaded the old row before a write cannot put it back after the invalidation', async () => {
      const [a, b] = replicas.apps;
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
      const before = (await request(`${replicas.url(1)}/products/${id}`)).body as Product;
      expect(before.name).not.toBe('after the write');
      const written = await request(`${replicas.url(0)}/products/${id}`, {
        method: 'PUT',
        body: productInput(before.sku, { name: 'after the write', category: before.category }),
      });
      expect(written.status).toBe(200);
      release();
      const stale = await slowRead;
      expect(JSON.parse(stale.value.body).name).toBe(before.name);
      await sleep(100);

      const cached = await servers.client.get(key.entry);
      if (cached !== null)
        expect(JSON.parse(decodeEntry(cached).body).name).toBe('after the write');
      for (const app of [a, b]) {
        const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
        expect(((await request(`${url}/products/${id}`)).body as Product).name).toBe(
          'after the write',
        );
      }
      const final = await servers.client.get(key.entry);
      expect(final).not.toBeNull();
      expect(JSON.parse(decodeEntry(final ?? '').body).name).toBe('after the write');
    });

    it('a read that arrives after a write on another replica does not join a lookup started before it', async () => {
      const b = replicas.apps[1];
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
        const { rows } = await servers.pool.query<{ sku: string; category: string }>(
          'SELECT sku, category FROM products WHERE id = $1',
          [id],
        );
        const written = await request(`${replicas.url(0)}/products/${id}`, {
          method: 'PUT',
          body: productInput(rows[0].sku, {
            name: 'newer than the lookup',
            category: rows[0].category,
          }),
        });
        expect(written.status).toBe(200);
        const read = await request(`${replicas.url(1)}/products/${id}`);
        expect((read.body as Product).name).toBe('newer than the lookup');
      } finally {
        release();
        await slowLookup;
      }
    });

    it('the Lua contract: only the current lease holder fills, and an invalidation revokes leases', async () => {
      const fill = fillScript;
      const readOrLease = readOrLeaseScript;
      const invalidate = invalidateScript;
      const key = replicas.apps[0].cacheKeys.product(92);
      const keys: [string, string, string] = [key.entry, key.lease, key.index];
      const now = Date.now();
      expect(await readOrLease.run(servers.client, keys, ['first', 5000, now, 60000])).toEqual([3]);
      expect(await readOrLease.run(servers.client, keys, ['second', 5000, now, 60000])).toEqual([
        4,
      ]);
      expect(
        await fill.run(
          servers.client,
          [key.entry, key.lease],
          ['second', `${now + 1000}|200||{}`, 5000],
        ),
      ).toBe(0);
      expect(await invalidate.run(servers.client, [key.index], [])).toBe(1);
      expect(
        await fill.run(
          servers.client,
          [key.entry, key.lease],
          ['first', `${now + 1000}|200||{}`, 5000],
        ),
      ).toBe(0);
      expect(await servers.client.exists(key.entry, key.lease, key.index)).toBe(0);
      expect(await readOrLease.run(servers.client, keys, ['third', 5000, now, 60000])).toEqual([3]);
      expect(
        await fill.run(
          servers.client,
          [key.entry, key.lease],
          ['third', `${now + 1000}|200||{}`, 5000],
        ),
      ).toBe(1);
      const hit = (await readOrLease.run(servers.client, keys, ['fourth', 5000, now, 60000])) as [
        number,
        string,
      ];
      expect(hit[0]).toBe(0);
      // Past the soft expiry: one caller gets the refresh lease, the next one is told to serve stale.
      expect(
        (await readOrLease.run(servers.client, keys, ['fifth', 5000, now + 2000, 60000]))[0],
      ).toBe(1);
      expect(
        (await readOrLease.run(servers.client, keys, ['sixth', 5000, now + 2000, 60000]))[0],
      ).toBe(2);
    });
  });

  describe('soft TTL, stale-while-revalidate and a database outage', () => {
    let replicas: Replicas<ServiceInstance>;
    const ttlMs = 1000;
    const staleGraceMs = 2500;
    beforeAll(async () => {
      // Soft timeout 0: past the soft TTL every reader is answered stale at once (pure
      // stale-while-revalidate); database-outage.test.ts covers the 50 ms wait.
      replicas = await startService(2, servers, {
        l1Enabled: false,
        ttlMs,
        ttlJitter: 0,
        staleGraceMs,
        softTimeoutMs: 0,
        // The one refresh counted here is the soft TTL's, not an early one (XFetch).
        earlyRefreshBeta: 0,
      });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    it('serves a value past its soft TTL as stale while exactly one refresh runs', async () => {
      const url = (i: number) => `${replicas.url(i)}/products/101`;
      expect((await request(url(0))).cache).toBe('miss');
      await sleep(ttlMs + 100);
      const before = await dbQueries(replicas.apps, 'product_by_id');
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => request(url(i))));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(answers.some((a) => a.cache === 'stale')).toBe(true);
      await sleep(150);
      expect((await dbQueries(replicas.apps, 'product_by_id')) - before).toBe(1);
      expect((await request(url(1))).cache).toBe('hit');
    });

    it('while PostgreSQL is down: stale within the grace period, 503 after it', async () => {
      const url = `${replicas.url(0)}/products/102`;
      expect((await request(url)).cache).toBe('miss');
      await sleep(ttlMs + 100);
      await postgres.pause();
      try {
        const stale = await request(url);
        expect(stale).toMatchObject({ status: 200, cache: 'stale' });
        expect(stale.ms).toBeLessThan(1000);
        const cold = await request(`${replicas.url(1)}/products/103`);
        expect(cold.status).toBe(503);
        expect(cold.body).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
        await sleep(staleGraceMs);
        const expired = await request(url);
        expect(expired.status).toBe(503);
      } finally {
        await postgres.resume();
      }
      await sleep(200);
      expect((await request(url)).status).toBe(200);
    });
  });
});
