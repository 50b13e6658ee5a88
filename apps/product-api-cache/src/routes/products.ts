import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { KeyBuilder } from '@redis-patterns/redis-core';
import { ErrorBody, errorBody } from '@redis-patterns/service-kit';
import {
  PageQuery,
  Product,
  ProductInput,
  ProductPage,
  ProductParams,
} from '../catalog/product-schemas';
import {
  categoryGroup,
  productCacheValue,
  productEtag,
  productGroup,
} from '../catalog/cache-groups';
import type { ProductStore } from '../catalog/product-store';
import { cacheKey, type CacheResult, type ReadThroughCache } from '../cache/read-through-cache';
import { etagMatches } from '../cache/cache-entry';

const JSON_TYPE = 'application/json; charset=utf-8';

function notFound(id: number) {
  return errorBody(404, 'PRODUCT_NOT_FOUND', `product ${id} does not exist`);
}

/** The part of a prom-client counter the routes use. */
export interface LabelledCounter<Label extends string> {
  inc(labels: Record<Label, string>): void;
}

export interface ProductRoutesOptions {
  cache: ReadThroughCache;
  store: ProductStore;
  /** Builds the cache keys (the service's key prefix). */
  keys: KeyBuilder;
  /** cache_requests_total{result} */
  cacheRequests: LabelledCounter<'result'>;
}

/** The catalogue API: cached reads, and writes acknowledged after commit and invalidation. */
const productRoutes: FastifyPluginAsyncTypebox<ProductRoutesOptions> = async (
  app,
  { cache, store, keys, cacheRequests },
) => {
  const count = (result: CacheResult): void => cacheRequests.inc({ result });

  app.get(
    '/products/:id',
    {
      schema: {
        tags: ['products'],
        summary: 'One product (cached; ETag / If-None-Match)',
        params: ProductParams,
        headers: Type.Object({ 'if-none-match': Type.Optional(Type.String()) }),
        response: {
          200: Product,
          304: Type.Null({ description: 'Not modified' }),
          400: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const id = Number(request.params.id);
      const { value, result } = await cache.read(cacheKey(keys, productGroup(id), 'v'), async () =>
        productCacheValue(await store.byId(id)),
      );
      count(result);
      reply.header('x-cache', result);
      if (value.status === 404) return reply.code(404).send(notFound(id));
      reply.header('etag', value.etag);
      if (etagMatches(request.headers['if-none-match'], value.etag))
        return reply.code(304).send(null);
      // Serialized once when it was cached, so a hit costs no JSON work. Fastify sends a string
      // as it is, which the route's reply type cannot express: hence the cast.
      return reply.type(JSON_TYPE).send(value.body as never);
    },
  );

  app.get(
    '/products',
    {
      schema: {
        tags: ['products'],
        summary: 'A page of one category, by id (cached per category)',
        querystring: PageQuery,
        response: { 200: ProductPage, 400: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const { category, limit, cursor } = request.query;
      const after = cursor ? Number(cursor) : 0;
      const key = cacheKey(keys, categoryGroup(category), 'page', limit, after);
      const { value, result } = await cache.read(key, async () => ({
        status: 200,
        body: JSON.stringify(await store.page(category, limit, after)),
        etag: '',
      }));
      count(result);
      reply.header('x-cache', result);
      return reply.type(JSON_TYPE).send(value.body as never);
    },
  );

  app.post(
    '/products',
    {
      schema: {
        tags: ['products'],
        summary: 'Create a product',
        body: ProductInput,
        response: { 201: Product, 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const stored = await store.insert(request.body);
      // The id may have a cached 404 from before it existed.
      await cache.invalidate([
        productGroup(stored.product.id),
        categoryGroup(stored.product.category),
      ]);
      return reply
        .code(201)
        .header('location', `/products/${stored.product.id}`)
        .header('etag', productEtag(stored.product.id, stored.version))
        .send(stored.product);
    },
  );

  app.put(
    '/products/:id',
    {
      schema: {
        tags: ['products'],
        summary: 'Replace a product',
        params: ProductParams,
        body: ProductInput,
        response: {
          200: Product,
          400: ErrorBody,
          404: ErrorBody,
          409: ErrorBody,
          413: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const id = Number(request.params.id);
      const updated = await store.update(id, request.body);
      if (!updated) return reply.code(404).send(notFound(id));
      const { stored, previousCategory } = updated;
      await cache.invalidate([
        productGroup(id),
        ...new Set([categoryGroup(previousCategory), categoryGroup(stored.product.category)]),
      ]);
      return reply.header('etag', productEtag(id, stored.version)).send(stored.product);
    },
  );

  app.delete(
    '/products/:id',
    {
      schema: {
        tags: ['products'],
        summary: 'Delete a product',
        params: ProductParams,
        response: {
          204: Type.Null({ description: 'Deleted' }),
          400: ErrorBody,
          404: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const id = Number(request.params.id);
      const category = await store.delete(id);
      if (category === null) return reply.code(404).send(notFound(id));
      await cache.invalidate([productGroup(id), categoryGroup(category)]);
      return reply.code(204).send(null);
    },
  );
};

export default productRoutes;
