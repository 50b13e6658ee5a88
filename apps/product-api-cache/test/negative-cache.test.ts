import { cacheCall, dbQueries, describeOnEveryTopology, servicePerBlock } from './cache-harness';

describeOnEveryTopology('product-api-cache consistency on %s', {}, ({ servers }) => {
  describe('HTTP caching behaviour', () => {
    const replicas = servicePerBlock(2, servers);

    it('caches a 404, so a flood of one unknown id costs one query', async () => {
      const before = await dbQueries(replicas().apps, 'product_by_id');
      const answers = await Promise.all(
        Array.from({ length: 60 }, (_, i) => cacheCall(`${replicas().url(i)}/products/987654`)),
      );
      expect(answers.every((a) => a.status === 404)).toBe(true);
      expect(answers[0].body).toMatchObject({ statusCode: 404, code: 'PRODUCT_NOT_FOUND' });
      expect((await dbQueries(replicas().apps, 'product_by_id')) - before).toBe(1);
    });
  });
});
