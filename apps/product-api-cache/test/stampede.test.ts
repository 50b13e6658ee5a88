import { cacheCall, dbQueries, describeOnEveryTopology, servicePerBlock } from './cache-harness';

describeOnEveryTopology('stampede protection on %s', {}, ({ servers }) => {
  const replicas = servicePerBlock(2, servers, {
    leaseMs: 1000,
    leaseWaitMs: 3000,
    hardTimeoutMs: 3500,
  });

  it('500 concurrent GETs of one cold product over two replicas cost one query', async () => {
    const before = await dbQueries(replicas().apps, 'product_by_id');
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) => cacheCall(`${replicas().url(i)}/products/77`)),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(500);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect((await dbQueries(replicas().apps, 'product_by_id')) - before).toBe(1);
  });

  it('200 concurrent GETs of one cold category page over two replicas cost one query', async () => {
    const before = await dbQueries(replicas().apps, 'products_by_category');
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        cacheCall(`${replicas().url(i)}/products?category=toys&limit=13`),
      ),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect((await dbQueries(replicas().apps, 'products_by_category')) - before).toBe(1);
  });

  it('when the lease holder dies, a waiter takes over after the lease lapses: still one query', async () => {
    // A lease nobody will ever fill: the holder crashed right after taking it.
    const key = replicas().apps[0].cacheKeys.product(78);
    await servers().client.set(key.lease, 'crashed-holder', 'PX', 1000);
    const before = await dbQueries(replicas().apps, 'product_by_id');
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => cacheCall(`${replicas().url(i)}/products/78`)),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000 + 2000);
    expect((await dbQueries(replicas().apps, 'product_by_id')) - before).toBe(1);
  });
});
