import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { pageEtag, productEtag } from '../catalog/cache-groups';
import { CATALOG_PLUGIN } from '../catalog/catalog-plugin';
import { CACHE_PLUGIN } from '../cache/cache-plugin';
import { etagMatches } from '../cache/cache-entry';
import { categoryGroup, productGroup } from '../cache/cache-keys';
import { cacheControl } from '../cache/http-freshness';
import { ProductListRouteSchemas } from './product-list-schemas';
import { countRead, JSON_TYPE, noStore, type ProductRoutesOptions } from './route-options';
import { assertInvalidated, assertWritable } from './write-guards';

/** The catalogue's list, `/products`: a category's cached pages, and creating a product. */
const productListRoutesPlugin: FastifyPluginAsyncTypebox<ProductRoutesOptions> = async (
  app,
  options,
) => {
  const { productCache: cache, productStore: store, cacheKeys: keys } = app;

  app.get(
    '/products',
    { schema: ProductListRouteSchemas.page, onSend: noStore },
    async (request, reply) => {
      const { category, limit, cursor } = request.query;
      const after = cursor ? Number(cursor) : 0;
      const read = await cache.read(keys.page(category, limit, after), async () => {
        const body = JSON.stringify(await store.page(category, limit, after));
        return { status: 200, body, etag: pageEtag(body) };
      });
      const { value, result } = read;
      countRead(options, result);
      reply.header('x-cache', result);
      reply.header('cache-control', cacheControl({ ...read, status: 200 }, options.freshness));
      // Pages cached before pages had ETags carry none until they expire.
      if (value.etag) {
        reply.header('etag', value.etag);
        if (etagMatches(request.headers['if-none-match'], value.etag))
          return reply.code(304).send(null);
      }
      return reply.type(JSON_TYPE).send(value.body as never);
    },
  );

  app.post(
    '/products',
    { schema: ProductListRouteSchemas.create, onSend: noStore },
    async (request, reply) => {
      assertWritable(cache);
      const stored = await store.insert(request.body);
      // The id may have a cached 404 from before it existed.
      const invalidated = await cache.invalidate([
        productGroup(stored.product.id),
        categoryGroup(stored.product.category),
      ]);
      assertInvalidated(invalidated, `product ${stored.product.id}`);
      return reply
        .code(201)
        .header('location', `/products/${stored.product.id}`)
        .header('etag', productEtag(stored.product.id, stored.version))
        .send(stored.product);
    },
  );
};

export const productListRoutes = fp(productListRoutesPlugin, {
  name: 'product-api-cache-product-list-routes',
  fastify: '5.x',
  dependencies: [CATALOG_PLUGIN, CACHE_PLUGIN],
});
