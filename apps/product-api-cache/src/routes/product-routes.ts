import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { errorBody } from '@redis-patterns/service-kit';
import { productCacheValue, productEtag } from '../catalog/cache-groups';
import { CATALOG_PLUGIN } from '../catalog/catalog-plugin';
import { CACHE_PLUGIN } from '../cache/cache-plugin';
import { etagMatches } from '../cache/cache-entry';
import { categoryGroup, productGroup } from '../cache/cache-keys';
import { cacheControl } from '../cache/http-freshness';
import { ProductRouteSchemas } from './product-schemas';
import { countRead, JSON_TYPE, noStore, type ProductRoutesOptions } from './route-options';
import { assertInvalidated, assertWritable } from './write-guards';

function notFound(id: number) {
  return errorBody(404, 'PRODUCT_NOT_FOUND', `product ${id} does not exist`);
}

/** One product, `/products/:id`: a cached read, and writes acknowledged after commit and invalidation. */
const productRoutesPlugin: FastifyPluginAsyncTypebox<ProductRoutesOptions> = async (
  app,
  options,
) => {
  const { productCache: cache, productStore: store, cacheKeys: keys } = app;

  app.get(
    '/products/:id',
    { schema: ProductRouteSchemas.read, onSend: noStore },
    async (request, reply) => {
      const id = Number(request.params.id);
      const read = await cache.read(keys.product(id), async () =>
        productCacheValue(await store.byId(id)),
      );
      const { value, result } = read;
      countRead(options, result);
      reply.header('x-cache', result);
      reply.header(
        'cache-control',
        cacheControl({ ...read, status: value.status }, options.freshness),
      );
      if (value.status === 404) return reply.code(404).send(notFound(id));
      reply.header('etag', value.etag);
      if (etagMatches(request.headers['if-none-match'], value.etag))
        return reply.code(304).send(null);
      // Serialized once when it was cached, so a hit costs no JSON work. Fastify sends a string
      // as it is, which the route's reply type cannot express: hence the cast.
      return reply.type(JSON_TYPE).send(value.body as never);
    },
  );

  app.put(
    '/products/:id',
    { schema: ProductRouteSchemas.replace, onSend: noStore },
    async (request, reply) => {
      const id = Number(request.params.id);
      assertWritable(cache);
      const updated = await store.update(id, request.body);
      if (!updated) return reply.code(404).send(notFound(id));
      const { stored, previousCategory } = updated;
      const invalidated = await cache.invalidate([
        productGroup(id),
        ...new Set([categoryGroup(previousCategory), categoryGroup(stored.product.category)]),
      ]);
      assertInvalidated(invalidated, `product ${id} (version ${stored.version})`);
      return reply.header('etag', productEtag(id, stored.version)).send(stored.product);
    },
  );

  app.delete(
    '/products/:id',
    { schema: ProductRouteSchemas.delete, onSend: noStore },
    async (request, reply) => {
      const id = Number(request.params.id);
      assertWritable(cache);
      const category = await store.delete(id);
      if (category === null) return reply.code(404).send(notFound(id));
      const invalidated = await cache.invalidate([productGroup(id), categoryGroup(category)]);
      assertInvalidated(invalidated, `the deletion of product ${id}`);
      return reply.code(204).send(null);
    },
  );
};

export const productRoutes = fp(productRoutesPlugin, {
  name: 'product-api-cache-product-routes',
  fastify: '5.x',
  dependencies: [CATALOG_PLUGIN, CACHE_PLUGIN],
});
