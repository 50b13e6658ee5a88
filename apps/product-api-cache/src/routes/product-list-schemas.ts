import { Type, type Static } from '@fastify/type-provider-typebox';
import { ErrorBody } from '@redis-patterns/service-kit';
import { CATEGORY_PATTERN, IfNoneMatch, Product, ProductInput } from './product-schemas';

export const ProductPage = Type.Object(
  {
    items: Type.Array(Product),
    /** Pass as `cursor` to get the next page; null on the last page. */
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ProductPage = Static<typeof ProductPage>;

export const PageQuery = Type.Object({
  category: Type.String({ pattern: CATEGORY_PATTERN }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
});

/** The routes of the catalogue's list, `/products`: a category's pages, and adding to it. */
export const ProductListRouteSchemas = {
  page: {
    tags: ['products'],
    summary: 'A page of one category, by id (cached per category; ETag / If-None-Match)',
    querystring: PageQuery,
    headers: IfNoneMatch,
    response: {
      200: ProductPage,
      304: Type.Null({ description: 'Not modified' }),
      400: ErrorBody,
      503: ErrorBody,
    },
  },
  create: {
    tags: ['products'],
    summary: 'Create a product',
    body: ProductInput,
    response: { 201: Product, 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 503: ErrorBody },
  },
};
