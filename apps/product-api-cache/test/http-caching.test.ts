import {
  cacheCall,
  describeOnEveryTopology,
  type Page,
  type Product,
  productInput,
  servicePerBlock,
} from './cache-harness';

describeOnEveryTopology('product-api-cache consistency on %s', {}, ({ servers }) => {
  describe('HTTP caching behaviour', () => {
    const replicas = servicePerBlock(2, servers);

    it('answers miss then hit, with an ETag that turns into 304', async () => {
      const url = `${replicas().url(0)}/products/31`;
      const first = await cacheCall(url);
      expect(first).toMatchObject({ status: 200, cache: 'miss' });
      expect(first.body).toMatchObject({ id: 31, sku: 'SKU-000031' });
      expect(first.etag).toMatch(/^"31-\d+"$/);
      const second = await cacheCall(url);
      expect(second.cache).toBe('hit');
      expect(second.body).toEqual(first.body);
      const other = await cacheCall(`${replicas().url(1)}/products/31`);
      expect(other.cache).toBe('hit');
      const notModified = await cacheCall(url, { headers: { 'if-none-match': first.etag ?? '' } });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBeNull();
      const changed = await cacheCall(url, { headers: { 'if-none-match': '"31-999"' } });
      expect(changed.status).toBe(200);
    });

    it('tells clients to cache no longer than the server does (Cache-Control from the TTLs)', async () => {
      // Defaults: soft TTL 60 s (+ jitter), client cap 5 s, stale grace 30 s.
      const url = `${replicas().url(0)}/products/32`;
      await cacheCall(url);
      const hit = await cacheCall(url);
      expect(hit.cache).toBe('hit');
      expect(hit.headers['cache-control']).toBe(
        'public, max-age=5, stale-while-revalidate=30, stale-if-error=30',
      );
      const notModified = await cacheCall(url, { headers: { 'if-none-match': hit.etag ?? '' } });
      expect(notModified.status).toBe(304);
      expect(notModified.headers['cache-control']).toBe(hit.headers['cache-control']);
      expect(notModified.etag).toBe(hit.etag);
      const missing = await cacheCall(`${replicas().url(1)}/products/987653`);
      expect(missing.status).toBe(404);
      expect(missing.headers['cache-control']).toMatch(/^public, max-age=[0-5]$/);
      const bad = await cacheCall(`${replicas().url(1)}/products/0`);
      expect(bad.headers['cache-control']).toBe('no-store');
      const product = hit.body as Product;
      const written = await cacheCall(url, {
        method: 'PUT',
        body: productInput(product.sku, { name: product.name, category: product.category }),
      });
      expect(written.status).toBe(200);
      expect(written.headers['cache-control']).toBe('no-store');
    });

    it('gives a page an ETag that turns into 304, and another one once a product of it changes', async () => {
      const url = (replica: number) => `${replicas().url(replica)}/products?category=music&limit=5`;
      const first = await cacheCall(url(0));
      expect(first.etag).toMatch(/^"l-[A-Za-z0-9_-]{27}"$/);
      expect(first.headers['cache-control']).toMatch(/^public, max-age=5, /);
      const again = await cacheCall(url(1));
      expect(again.etag).toBe(first.etag);
      const notModified = await cacheCall(url(1), {
        headers: { 'if-none-match': `"other", ${first.etag}` },
      });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBeNull();
      const product = (first.body as Page).items[2];
      const written = await cacheCall(`${replicas().url(0)}/products/${product.id}`, {
        method: 'PUT',
        body: productInput(product.sku, {
          name: `${product.name} (renamed)`,
          category: product.category,
        }),
      });
      expect(written.status).toBe(200);
      const changed = await cacheCall(url(1), { headers: { 'if-none-match': first.etag ?? '' } });
      expect(changed.status).toBe(200);
      expect(changed.etag).not.toBe(first.etag);
      expect((changed.body as Page).items[2].name).toBe(`${product.name} (renamed)`);
    });

    it('pages a category with a cursor, each page cached', async () => {
      const seen: number[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const url = `${replicas().url(0)}/products?category=garden&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
        const answer = await cacheCall(url);
        expect(answer.status).toBe(200);
        const page = answer.body as Page;
        seen.push(...page.items.map((p) => p.id));
        expect(page.items.every((p) => p.category === 'garden')).toBe(true);
        expect((await cacheCall(url)).cache).toBe('hit');
        cursor = page.nextCursor;
      }
      const { rows } = await servers().pool.query<{ id: string }>(
        "SELECT id FROM products WHERE category = 'garden' ORDER BY id",
      );
      expect(seen).toEqual(rows.map((r) => Number(r.id)));
    });

    it('exports the cache and database metrics and stays ready', async () => {
      const metrics = await fetch(`${replicas().url(0)}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/cache_requests_total\{result="hit"\} \d+/);
      expect(metrics).toMatch(/db_queries_total\{query="product_by_id"\} \d+/);
      expect((await fetch(`${replicas().url(0)}/health/ready`)).status).toBe(200);
    });
  });
});
