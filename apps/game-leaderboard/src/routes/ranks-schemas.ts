import { Type } from '@fastify/type-provider-typebox';
import { Entries, PeriodQuery, PlayerId } from './shared-schemas';

export const TopQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  offset: Type.Integer({ minimum: 0, maximum: 100_000_000, default: 0 }),
  period: PeriodQuery,
});
export const Page = Type.Object({ entries: Entries, total: Type.Integer() });

export const RanksBody = Type.Object(
  { playerIds: Type.Array(PlayerId, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
export const Ranks = Type.Object({ entries: Entries, unknown: Type.Array(Type.String()) });
