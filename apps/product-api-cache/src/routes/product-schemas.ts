import { Type, type Static } from '@fastify/type-provider-typebox';
import { ErrorBody, Text } from '@redis-patterns/service-kit';

/** Categories are part of Redis keys (`{c-<category>}`), hence the narrow alphabet. */
export const CATEGORY_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';

export const Product = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    sku: Type.String(),
    name: Type.String(),
    description: Type.String(),
    priceCents: Type.Integer({ minimum: 0 }),
    category: Type.String(),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type Product = Static<typeof Product>;

/**
 * What POST and PUT accept: every field, nothing else. Free text refuses NUL and control
 * characters (PostgreSQL rejects 0x00; the rest are terminal escapes in logs and admin tools);
 * a description may hold tabs and newlines.
 */
export const ProductInput = Type.Object(
  {
    sku: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
    name: Text({ minLength: 1, maxLength: 200 }),
    description: Text({ multiline: true, maxLength: 5000, default: '' }),
    priceCents: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
    category: Type.String({ pattern: CATEGORY_PATTERN }),
  },
  { additionalProperties: false },
);
export type ProductInput = Static<typeof ProductInput>;

/** A positive integer id: `0`, `-1`, `abc` and `1e3` are all 400. */
export const ProductParams = Type.Object({
  id: Type.String({ pattern: '^[1-9][0-9]{0,14}$' }),
});

/** The conditional-GET header of the cached reads. */
export const IfNoneMatch = Type.Object({ 'if-none-match': Type.Optional(Type.String()) });

/** The routes of one product, `/products/:id`. */
export const ProductRouteSchemas = {
  read: {
    tags: ['products'],
    summary: 'One product (cached; ETag / If-None-Match)',
    params: ProductParams,
    headers: IfNoneMatch,
    response: {
      200: Product,
      304: Type.Null({ description: 'Not modified' }),
      400: ErrorBody,
      404: ErrorBody,
      503: ErrorBody,
    },
  },
  replace: {
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
  delete: {
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
};
