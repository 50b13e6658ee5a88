import { Type } from '@fastify/type-provider-typebox';
import { BoardParams, Entries } from './shared-schemas';

export const ArchivedPeriod = Type.Object({
  id: Type.String({ description: 'The period start, e.g. 20261126T0000Z' }),
  startsAt: Type.String(),
  endsAt: Type.String(),
  archivedAt: Type.String(),
  entries: Type.Integer(),
});

export const PeriodsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  before: Type.Optional(Type.String({ pattern: '^\\d{8}T\\d{4}Z$' })),
});
export const PeriodList = Type.Object({ periods: Type.Array(ArchivedPeriod) });

export const PeriodParams = Type.Object({
  board: BoardParams.properties.board,
  id: Type.String({ pattern: '^\\d{8}T\\d{4}Z$', description: 'e.g. 20261126T0000Z' }),
});
export const StandingsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  offset: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 }),
});
export const Standings = Type.Object({ period: ArchivedPeriod, entries: Entries });
