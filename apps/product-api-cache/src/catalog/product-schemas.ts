import { Type, type Static } from '@fastify/type-provider-typebox';

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

/** What POST and PUT accept: every field, nothing else. */
export const ProductInput = Type.Object(
  {
    sku: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.String({ maxLength: 5000, default: '' }),
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
