// The provider's own TypeBox: route types are inferred only from the instance it was built with.
import { Type } from '@fastify/type-provider-typebox';
import { MAX_HOLD_TTL_MS } from '../config';
import { MAX_LINES, MAX_QUANTITY } from '../holds/hold-lines';
import { NAME } from './inventory-schemas';

export const HoldParams = Type.Object({
  orderId: Type.String({ pattern: NAME, description: 'Idempotency key: 1..64 of [A-Za-z0-9_-]' }),
});

export const HoldBody = Type.Object(
  {
    lines: Type.Array(
      Type.Object(
        {
          sku: Type.String({ pattern: NAME, description: '1..64 of [A-Za-z0-9_-]' }),
          quantity: Type.Integer({ minimum: 1, maximum: MAX_QUANTITY }),
        },
        { additionalProperties: false },
      ),
      {
        minItems: 1,
        maxItems: MAX_LINES,
        description: `1..${MAX_LINES} lines, each sku once; all are held or none`,
      },
    ),
    ttlMs: Type.Optional(
      Type.Integer({
        minimum: 1000,
        maximum: MAX_HOLD_TTL_MS,
        description: 'Lifetime of the hold (default HOLD_TTL_DEFAULT_MS, at most HOLD_TTL_MAX_MS)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const Hold = Type.Object({
  orderId: Type.String(),
  status: Type.Union([
    Type.Literal('held'),
    Type.Literal('confirmed'),
    Type.Literal('cancelled'),
    Type.Literal('expired'),
  ]),
  lines: Type.Array(
    Type.Object({
      sku: Type.String(),
      quantity: Type.Integer(),
      fence: Type.Integer({ description: "The sku's fencing token the line was held under" }),
    }),
  ),
  expiresAt: Type.String({ format: 'date-time' }),
  createdAt: Type.String({ format: 'date-time' }),
  settledAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When it was confirmed, cancelled or expired; null while held',
  }),
});
