import type { ServiceInstance } from '@redis-patterns/service-kit';
import type { Replicas } from '@redis-patterns/testkit';
import pino from 'pino';
import { createRedis, closeRedis, waitForReady } from '@redis-patterns/redis-core';
import { uniquePrefix } from '@redis-patterns/testkit';
import { EvictionChannel } from '../src/cache/eviction-channel';
import { productGroup } from '../src/catalog/cache-groups';
import {
  dbQueries,
  productInput,
  request,
  sleep,
  startCluster,
  startServers,
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

let servers: Servers;
beforeAll(async () => {
  servers = await startServers();
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
    replicas = await startCluster(2, servers, { l1Enabled });
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

describe('HTTP caching behaviour', () => {
  let replicas: Replicas<ServiceInstance>;
  beforeAll(async () => {
    replicas = await startCluster(2, servers);
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
    replicas = await startCluster(2, servers, { l1Enabled: true, l1TtlMs });
  });
  afterAll(async () => {
    await replicas?.close();
  });

  it('serves an old value for at most CACHE_L1_TTL_MS when an eviction message is lost', async () => {
    const id = 41;
    const url = `${replicas.url(1)}/products/${id}`;
    await request(url);
    expect((await request(url)).cache).toBe('hit');
    // A write whose Redis invalidation happened but whose pub/sub message never arrived.
    await servers.pool.query(
      "UPDATE products SET name = 'silent', version = version + 1 WHERE id = $1",
      [id],
    );
    const redis = createRedis({ url: servers.redis.url });
    try {
      await waitForReady(redis, 2000);
      const index = replicas.apps[1].cacheKeys.tagged(productGroup(id), 'index');
      for (const entry of await redis.smembers(index)) await redis.del(entry, `${entry}:lease`);
    } finally {
      await closeRedis(redis);
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

describe('eviction acknowledgements', () => {
  it('a publish resolves after every subscribed replica evicted, or false after the timeout', async () => {
    const clients = Array.from({ length: 5 }, () => createRedis({ url: servers.redis.url }));
    const log = pino({ level: 'silent' });
    const channelName = `${uniquePrefix('pac')}:evictions`;
    try {
      await Promise.all(clients.map((client) => waitForReady(client, 2000)));
      const [subA, subB, publisher, silent] = clients;
      const a = new EvictionChannel({
        subscriber: subA,
        publisher,
        channel: channelName,
        ackTimeoutMs: 300,
        log,
      });
      const b = new EvictionChannel({
        subscriber: subB,
        publisher,
        channel: channelName,
        ackTimeoutMs: 300,
        log,
      });
      await Promise.all([a.start(2000), b.start(2000)]);
      const seenByB: Array<string[] | null> = [];
      b.onEvict((groups) => seenByB.push(groups));
      await expect(a.publish(['p-1'])).resolves.toBe(true);
      expect(seenByB).toEqual([['p-1']]);

      // A subscriber that never acknowledges (a stalled replica): the writer waits, bounded.
      await silent.subscribe(channelName);
      const started = Date.now();
      await expect(a.publish(['p-2'])).resolves.toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(seenByB).toEqual([['p-1'], ['p-2']]);
    } finally {
      await Promise.all(clients.map((client) => closeRedis(client)));
    }
  });
});
