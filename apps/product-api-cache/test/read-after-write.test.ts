import { until } from '@redis-patterns/testkit';
import {
  cacheCall,
  connectionsNamed,
  describeOnEveryTopology,
  killConnections,
  log,
  type Page,
  type Product,
  productInput,
  servicePerBlock,
  versionOf,
} from './cache-harness';

describeOnEveryTopology('product-api-cache consistency on %s', {}, ({ kind, servers }) => {
  describe.each([
    ['on', true],
    ['off', false],
  ])('read after write across two replicas, L1 %s', (_label, l1Enabled) => {
    // The API write path alone: the outbox would repair what a broken channel missed.
    const replicas = servicePerBlock(2, servers, { l1Enabled, outboxEnabled: false });

    it('a write through A is read through B at once, every time', async () => {
      const [a, b] = replicas().urls;
      const id = l1Enabled ? 11 : 12;
      for (let round = 0; round < 15; round += 1) {
        await cacheCall(`${b}/products/${id}`);
        const warm = await cacheCall(`${b}/products/${id}`);
        expect(warm.cache).toBe('hit');
        const current = warm.body as Product;
        const written = await cacheCall(`${a}/products/${id}`, {
          method: 'PUT',
          body: productInput(current.sku, { name: `round ${round}`, category: current.category }),
        });
        expect(written.status).toBe(200);
        const read = await cacheCall(`${b}/products/${id}`);
        expect(read.status).toBe(200);
        expect((read.body as Product).name).toBe(`round ${round}`);
        expect(read.etag).toBe(written.etag);
      }
    });

    it('a changed product leaves the cached pages of its old and new category', async () => {
      const [a, b] = replicas().urls;
      const page = (category: string) =>
        cacheCall(`${b}/products?category=${category}&limit=100`).then((r) => r.body as Page);
      const before = await page('books');
      await page('books');
      const moved = before.items[l1Enabled ? 0 : 1];
      await page('music');
      const renamed = await cacheCall(`${a}/products/${moved.id}`, {
        method: 'PUT',
        body: productInput(moved.sku, { name: 'renamed', category: 'books' }),
      });
      expect(renamed.status).toBe(200);
      expect((await page('books')).items.find((p) => p.id === moved.id)?.name).toBe('renamed');
      await cacheCall(`${a}/products/${moved.id}`, {
        method: 'PUT',
        body: productInput(moved.sku, { name: 'moved', category: 'music' }),
      });
      expect((await page('books')).items.some((p) => p.id === moved.id)).toBe(false);
      expect((await page('music')).items.find((p) => p.id === moved.id)?.name).toBe('moved');
    });

    it('a delete through A is a 404 through B, and a create replaces a cached 404', async () => {
      const [a, b] = replicas().urls;
      const victim = l1Enabled ? 21 : 22;
      expect((await cacheCall(`${b}/products/${victim}`)).status).toBe(200);
      expect((await cacheCall(`${a}/products/${victim}`, { method: 'DELETE' })).status).toBe(204);
      expect((await cacheCall(`${b}/products/${victim}`)).status).toBe(404);

      const { rows } = await servers().pool.query<{ next: string }>(
        'SELECT last_value + 1 AS next FROM products_id_seq',
      );
      const nextId = Number(rows[0].next);
      expect((await cacheCall(`${b}/products/${nextId}`)).status).toBe(404);
      expect((await cacheCall(`${b}/products/${nextId}`)).cache).toBe('hit');
      const created = await cacheCall(`${a}/products`, {
        method: 'POST',
        body: productInput(`NEW-${l1Enabled}`),
      });
      expect(created.status).toBe(201);
      expect((created.body as Product).id).toBe(nextId);
      const read = await cacheCall(`${b}/products/${nextId}`);
      expect(read.status).toBe(200);
      expect((read.body as Product).sku).toBe(`NEW-${l1Enabled}`);
    });
  });

  describe('many writes, many reads on the other replica (L1 on)', () => {
    // The issue's reproduction: on a Cluster the old channel served 131 stale reads of 6,000.
    const rounds = 120;
    // The API write path alone: the outbox would repair what a broken channel missed.
    const replicas = servicePerBlock(2, servers, { l1Enabled: true, outboxEnabled: false });
    let prefix: string;
    beforeAll(() => {
      prefix = replicas().apps[0].cacheKeys.prefix;
    });

    if (kind === 'cluster') {
      it('puts both replicas\u2019 subscribers on other Cluster nodes than the publisher', async () => {
        // Evictions are published by a script on the registry's slot; the subscribers must sit
        // elsewhere, where PUBLISH's own count would be 0.
        const registry = replicas().apps[0].cacheKeys.members;
        const publisher = await servers().topology.master(registry);
        const subscribers = () =>
          connectionsNamed(
            servers(),
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
              const live = replicas().apps.every((app) => app.evictionChannel?.live);
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
          async () =>
            replicas().apps.every((app) => app.evictionChannel?.live) ? true : undefined,
          15_000,
        );
      });
    }

    it(`a PUT on A, then 50 reads on B, ${rounds} rounds: 0 stale reads`, async () => {
      const [a, b] = replicas().urls;
      const id = 51;
      let reads = 0;
      let stale = 0;
      let staleRounds = 0;
      let hits = 0;
      const writeMs: number[] = [];
      for (let round = 0; round < rounds; round += 1) {
        await cacheCall(`${a}/products/${id}`);
        await cacheCall(`${b}/products/${id}`);
        const warmA = await cacheCall(`${a}/products/${id}`);
        const warmB = await cacheCall(`${b}/products/${id}`);
        // Both replicas hold the product before the write (an L1 or a Redis hit).
        expect([warmA.cache, warmB.cache]).toEqual(['hit', 'hit']);
        const current = warmB.body as Product;
        const written = await cacheCall(`${a}/products/${id}`, {
          method: 'PUT',
          body: productInput(current.sku, { name: `round ${round}`, category: current.category }),
        });
        expect(written.status).toBe(200);
        writeMs.push(written.ms);
        const version = versionOf(written.etag);
        let staleHere = 0;
        for (let i = 0; i < 50; i += 1) {
          const read = await cacheCall(`${b}/products/${id}`);
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
});
