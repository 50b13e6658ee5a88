// The provider's own TypeBox: route types are inferred only from the instance it was built with.
import { Type } from '@fastify/type-provider-typebox';
import { MAX_QUANTITY } from '../holds/hold-lines';
import { MAX_STOCK } from '../inventory/inventory-store';

/** sku and orderId: allow-listed names, so no free text reaches a log or the database. */
export const NAME = '^[A-Za-z0-9_-]{1,64}$';

export const SkuParams = Type.Object({
  sku: Type.String({ pattern: NAME, description: '1..64 of [A-Za-z0-9_-]' }),
});
export const OrderParams = Type.Object({
  orderId: Type.String({ pattern: NAME, description: '1..64 of [A-Za-z0-9_-]' }),
});

export const StockBody = Type.Object(
  { stock: Type.Integer({ minimum: 0, maximum: MAX_STOCK }) },
  { additionalProperties: false },
);
export const Item = Type.Object({ sku: Type.String(), stock: Type.Integer() });

export const ReserveBody = Type.Object(
  {
    orderId: Type.String({ pattern: NAME, description: 'Idempotency key: 1..64 of [A-Za-z0-9_-]' }),
    quantity: Type.Integer({ minimum: 1, maximum: MAX_QUANTITY }),
  },
  { additionalProperties: false },
);

export const TestHookHeaders = Type.Object({
  'x-test-pause-ms': Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 60000,
      description:
        'Test hook (only with TEST_HOOKS=true): stall between read and write with lease extension stopped, like a process pause',
    }),
  ),
  'x-test-work-ms': Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 60000,
      description:
        'Test hook (only with TEST_HOOKS=true): a slow call-out between read and write; the lease is extended meanwhile',
    }),
  ),
});

export const Reservation = Type.Object({
  orderId: Type.String(),
  sku: Type.String(),
  quantity: Type.Integer(),
  remaining: Type.Integer({ description: 'Stock left right after this reservation' }),
  fence: Type.Integer({ description: 'Fencing token the reservation was written under' }),
  status: Type.Union([Type.Literal('reserved'), Type.Literal('released')]),
  createdAt: Type.String({ format: 'date-time' }),
});
