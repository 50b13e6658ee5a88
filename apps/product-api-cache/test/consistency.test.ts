import type { ServiceInstance } from '@redis-patterns/service-kit';
import {
  topologiesUnderTest,
  until,
  type PostgresServer,
  type Replicas,
} from '@redis-patterns/testkit';
import { productGroup } from '../src/cache/cache-keys';
import {
  connectionsNamed,
  dbQueries,
  killConnections,
  log,
  productInput,
  request,
  sleep,
  startFilePostgres,
  startServers,
  startService,
  versionOf,
  type Servers,
} from './harness';

interface Product {
  id: number;
  sku: string;
  name: string;
  category: string;
  priceCents: number;
}
interface Page {
  items: Product[];
  nextCursor: string | null;
}

let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startFilePostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

describe.each(topologiesUnderTest())('product-api-cache consistency on %s', (kind) => {
  let servers: Servers;
  beforeAll(async () => {
    servers = await startServers(kind, postgres);
  });
  afterAll(async () => {
    await servers?.stop();
  });

  describe.each([
    ['on', true],
    ['off', false],
  ])('read after write across two replicas, L1 %s', (_label, l1Enabled) => {
    let replicas: Replicas<ServiceInstance>;
    beforeAll(async () => {
      // The API write path alone: the outbox would repair what a broken channel missed.
      replicas = await startService(2, servers, { l1Enabled, outboxEnabled: false });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    it('a write through A is read through B at once, every time', async () => {
      const [a, b] = replicas.urls;
      const id = l1Enabled ? 11 : 12;
      for (let round = 0; round < 15; round += 1) {
        await request(`${b}/products/${id}`);
        const warm = await request(`${b}/products/${id}`);
        expect(warm.cache).toBe('hit');
        const current = warm.body as Product;
        const written = await request(`${a}/products/${id}`, {
          method: 'PUT',
          body: productInput(current.sku, { name: `round ${round}`, category: current.category }),
        });
        expect(written.status).toBe(200);
        const read = await request(`${b}/products/${id}`);
        expect(read.status).toBe(200);
        expect((read.body as Product).name).toBe(`round ${round}`);
        expect(read.etag).toBe(written.etag);
      }
    });

    it('a changed product leaves the cached pages of its old and new category', async () => {
      const [a, b] = replicas.urls;
      const page = (category: string) =>
        request(`${b}/products?category=${category}&limit=100`).then((r) => r.body as Page);
      const before = await page('books');
      await page('books');
      const moved = before.items[l1Enabled ? 0 : 1];
      await page('music');
      const renamed = await request(`${a}/products/${moved.id}`, {
        method: 'PUT',
        body: productInput(moved.sku, { name: 'renamed', category: 'books' }),
      });
      expect(renamed.status).toBe(200);
      expect((await page('books')).items.find((p) => p.id === moved.id)?.name).toBe('renamed');
      await request(`${a}/products/${moved.id}`, {
        method: 'PUT',
        body: productInput(moved.sku, { name: 'moved', category: 'music' }),
      });
      expect((await page('books')).items.some((p) => p.id === moved.id)).toBe(false);
      expect((await page('music')).items.find((p) => p.id === moved.id)?.name).toBe('moved');
    });

    it('a delete through A is a 404 through B, and a create replaces a cached 404', async () => {
      const [a, b] = replicas.urls;
      const victim = l1Enabled ? 21 : 22;
      expect((await request(`${b}/products/${victim}`)).status).toBe(200);
      expect((await request(`${a}/products/${victim}`, { method: 'DELETE' })).status).toBe(204);
      expect((await request(`${b}/products/${victim}`)).status).toBe(404);

      const { rows } = await servers.pool.query<{ next: string }>(
        'SELECT last_value + 1 AS next FROM products_id_seq',
      );
      const nextId = Number(rows[0].next);
      expect((await request(`${b}/products/${nextId}`)).status).toBe(404);
      expect((await request(`${b}/products/${nextId}`)).cache).toBe('hit');
      const created = await request(`${a}/products`, {
        method: 'POST',
        body: productInput(`NEW-${l1Enabled}`),
      });
      expect(created.status).toBe(201);
      expect((created.body as Product).id).toBe(nextId);
      const read = await request(`${b}/products/${nextId}`);
      expect(read.status).toBe(200);
      expect((read.body as Product).sku).toBe(`NEW-${l1Enabled}`);
    });
  });

  describe('many writes, many reads on the other replica (L1 on)', () => {
    // The issue's reproduction: on a Cluster the old channel served 131 stale reads of 6,000.
    const rounds = 120;
    let replicas: Replicas<ServiceInstance>;
    let prefix: string;
    beforeAll(async () => {
      // The API write path alone: the outbox would repair what a broken channel missed.
      replicas = await startService(2, servers, { l1Enabled: true, outboxEnabled: false });
      prefix = replicas.apps[0].cacheKeys.prefix;
    });
    afterAll(async () => {
      await replicas?.close();
    });

    if (kind === 'cluster') {
      it('puts both replicas\u2019 subscribers on other Cluster nodes than the publisher', async () => {
        // Evictions are published by a script on the registry's slot; the subscribers must sit
        // elsewhere, where PUBLISH's own count would be 0.
        const registry = replicas.apps[0].cacheKeys.members;
        const publisher = await servers.topology.master(registry);
        const subscribers = () =>
          connectionsNamed(
            servers,
            (name) => name.startsWith('ioredis-cluster(subscriber):') && name.includes(prefix),
          );
        let placed = await subscribers();
        for (let attempt = 0; attempt < 30; attempt += 1) {
          const onPublisher = placed.filter((c) => c.node.port === publisher.port);
          if (placed.length === 2 && onPublisher.length === 0) break;
          // ioredis picks a random node for a new subscriber connection: kill until elsewhere.
          await killConnections(onPublisher);
          placed = await until(
            'both subscribers connected and both replicas registered again',
            async () => {
              const now = await subscribers();
              const live = replicas.apps.every((app) => app.evictionChannel?.live);
              return now.length === 2 && live ? now : undefined;
            },
            15_000,
          );
        }
        log(
          `cluster: publisher (registry master) :${publisher.port}, subscribers ${placed.map((c) => `${c.name.split(':').slice(-2)[0]}@:${c.node.port}`).join(', ')}`,
        );
        expect(placed).toHaveLength(2);
        expect(placed.every((c) => c.node.port !== publisher.port)).toBe(true);
        await until(
          'both replicas registered',
          async () => (replicas.apps.every((app) => app.evictionChannel?.live) ? true : undefined),
          15_000,
        );
      });
    }

    it(`a PUT on A, then 50 reads on B, ${rounds} rounds: 0 stale reads`, async () => {
      const [a, b] = replicas.urls;
      const id = 51;
      let reads = 0;
      let stale = 0;
      let staleRounds = 0;
      let hits = 0;
      const writeMs: number[] = [];
      for (let round = 0; round < rounds; round += 1) {
        await request(`${a}/products/${id}`);
        await request(`${b}/products/${id}`);
        const warmA = await request(`${a}/products/${id}`);
        const warmB = await request(`${b}/products/${id}`);
        // Both replicas hold the product before the write (an L1 or a Redis hit).
        expect([warmA.cache, warmB.cache]).toEqual(['hit', 'hit']);
        const current = warmB.body as Product;
        const written = await request(`${a}/products/${id}`, {
          method: 'PUT',
          body: productInput(current.sku, { name: `round ${round}`, category: current.category }),
        });
        expect(written.status).toBe(200);
        writeMs.push(written.ms);
        const version = versionOf(written.etag);
        let staleHere = 0;
        for (let i = 0; i < 50; i += 1) {
          const read = await request(`${b}/products/${id}`);
          reads += 1;
          if (read.cache === 'hit') hits += 1;
          if (versionOf(read.etag) < version) staleHere += 1;
        }
        stale += staleHere;
        if (staleHere > 0) staleRounds += 1;
      }
      writeMs.sort((x, y) => x - y);
      log(
        `${kind}: ${reads} reads after ${rounds} acknowledged PUTs: ${stale} stale (${staleRounds} rounds), ${hits} hits; PUT p50 ${writeMs[Math.floor(rounds / 2)].toFixed(1)} ms, max ${writeMs[rounds - 1].toFixed(1)} ms`,
      );
      expect(reads).toBe(rounds * 50);
      expect(stale).toBe(0);
      // The property is the stale count; 6,000 reads take longer than 30 s on a busy machine.
    }, 120_000);
  });

  describe('HTTP caching behaviour', () => {
    let replicas: Replicas<ServiceInstance>;
    beforeAll(async () => {
      replicas = await startService(2, servers);
    });
    afterAll(async () => {
      await replicas?.close();
    });

    it('answers miss then hit, with an ETag that turns into 304', async () => {
      const url = `${replicas.url(0)}/products/31`;
      const first = await request(url);
      expect(first).toMatchObject({ status: 200, cache: 'miss' });
      expect(first.body).toMatchObject({ id: 31, sku: 'SKU-000031' });
      expect(first.etag).toMatch(/^"31-\d+"$/);
      const second = await request(url);
      expect(second.cache).toBe('hit');
      expect(second.body).toEqual(first.body);
      const other = await request(`${replicas.url(1)}/products/31`);
      expect(other.cache).toBe('hit');
      const notModified = await request(url, { headers: { 'if-none-match': first.etag ?? '' } });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBeNull();
      const changed = await request(url, { headers: { 'if-none-match': '"31-999"' } });
      expect(changed.status).toBe(200);
    });

    it('tells clients to cache no longer than the server does (Cache-Control from the TTLs)', async () => {
      // Defaults: soft TTL 60 s (+ jitter), client cap 5 s, stale grace 30 s.
      const url = `${replicas.url(0)}/products/32`;
      await request(url);
      const hit = await request(url);
      expect(hit.cache).toBe('hit');
      expect(hit.headers['cache-control']).toBe(
        'public, max-age=5, stale-while-revalidate=30, stale-if-error=30',
      );
      const notModified = await request(url, { headers: { 'if-none-match': hit.etag ?? '' } });
      expect(notModified.status).toBe(304);
      expect(notModified.headers['cache-control']).toBe(hit.headers['cache-control']);
      expect(notModified.etag).toBe(hit.etag);
      const missing = await request(`${replicas.url(1)}/products/987653`);
      expect(missing.status).toBe(404);
      expect(missing.headers['cache-control']).toMatch(/^public, max-age=[0-5]$/);
      const bad = await request(`${replicas.url(1)}/products/0`);
      expect(bad.headers['cache-control']).toBe('no-store');
      const product = hit.body as Product;
      const written = await request(url, {
        method: 'PUT',
        body: productInput(product.sku, { name: product.name, category: product.category }),
      });
      expect(written.status).toBe(200);
      expect(written.headers['cache-control']).toBe('no-store');
    });

    it('gives a page an ETag that turns into 304, and another one once a product of it changes', async () => {
      const url = (replica: number) => `${replicas.url(replica)}/products?category=music&limit=5`;
      const first = await request(url(0));
      expect(first.etag).toMatch(/^"l-[A-Za-z0-9_-]{27}"$/);
      expect(first.headers['cache-control']).toMatch(/^public, max-age=5, /);
      const again = await request(url(1));
      expect(again.etag).toBe(first.etag);
      const notModified = await request(url(1), {
        headers: { 'if-none-match': `"other", ${first.etag}` },
      });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBeNull();
      const product = (first.body as Page).items[2];
      const written = await request(`${replicas.url(0)}/products/${product.id}`, {
        method: 'PUT',
        body: productInput(product.sku, {
          name: `${product.name} (renamed)`,
          category: product.category,
        }),
      });
      expect(written.status).toBe(200);
      const changed = await request(url(1), { headers: { 'if-none-match': first.etag ?? '' } });
      expect(changed.status).toBe(200);
      expect(changed.etag).not.toBe(first.etag);
      expect((changed.body as Page).items[2].name).toBe(`${product.name} (renamed)`);
    });

    it('caches a 404, so a flood of one unknown id costs one query', async () => {
      const before = await dbQueries(replicas.apps, 'product_by_id');
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) => request(`${replicas.url(i)}/products/987654`)),
      );
      expect(answers.every((a) => a.status === 404)).toBe(true);
      expect(answers[0].body).toMatchObject({ statusCode: 404, code: 'PRODUCT_NOT_FOUND' });
      expect((await dbQueries(replicas.apps, 'product_by_id')) - before).toBe(1);
    });

    it('pages a category with a cursor, each page cached', async () => {
      const seen: number[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const url = `${replicas.url(0)}/products?category=garden&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
        const answer = await request(url);
        expect(answer.status).toBe(200);
        const page = answer.body as Page;
        seen.push(...page.items.map((p) => p.id));
        expect(page.items.every((p) => p.category === 'garden')).toBe(true);
        expect((await request(url)).cache).toBe('hit');
        cursor = page.nextCursor;
      }
      const { rows } = await servers.pool.query<{ id: string }>(
        "SELECT id FROM products WHERE category = 'garden' ORDER BY id",
      );
      expect(seen).toEqual(rows.map((r) => Number(r.id)));
    });

    it('exports the cache and database metrics and stays ready', async () => {
      const metrics = await fetch(`${replicas.url(0)}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/cache_requests_total\{result="hit"\} \d+/);
      expect(metrics).toMatch(/db_queries_total\{query="product_by_id"\} \d+/);
      expect((await fetch(`${replicas.url(0)}/health/ready`)).status).toBe(200);
    });
  });

  describe('L1 tier worst case', () => {
    let replicas: Replicas<ServiceInstance>;
    const l1TtlMs = 600;
    beforeAll(async () => {
      // Without the outbox, which would evict this SQL change itself (sql-invalidation.test.ts).
      replicas = await startService(2, servers, { l1Enabled: true, l1TtlMs, outboxEnabled: false });
    });
    afterAll(async () => {
      await replicas?.close();
    });

    it('serves an old value for at most CACHE_L1_TTL_MS when an eviction never reaches it', async () => {
      const id = 41;
      const url = `${replicas.url(1)}/products/${id}`;
      await request(url);
      expect((await request(url)).cache).toBe('hit');
      // A change whose Redis invalidation happened but whose eviction was never published.
      await servers.pool.query(
        "UPDATE products SET name = 'silent', version = version + 1 WHERE id = $1",
        [id],
      );
      const index = replicas.apps[1].cacheKeys.index(productGroup(id));
      for (const entry of await servers.client.smembers(index)) {
        await servers.client.del(entry, replicas.apps[1].cacheKeys.lease(entry));
      }
      const started = Date.now();
      let name = '';
      while (name !== 'silent') {
        name = ((await request(url)).body as Product).name;
        if (name !== 'silent') await sleep(20);
        expect(Date.now() - started).toBeLessThan(l1TtlMs + 1000);
      }
    });
  });
});
