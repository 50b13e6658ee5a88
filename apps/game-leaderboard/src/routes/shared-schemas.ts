import { Type } from '@fastify/type-provider-typebox';
import { ErrorBody } from '@redis-patterns/service-kit';

/** Schemas every route plugin of the service shares: names, periods, entries, errors. */

export const BoardName = Type.String({
  pattern: '^[a-z0-9_-]{1,64}$',
  description: '1..64 of [a-z0-9_-]',
});
export const PlayerId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  description: '1..64 of [A-Za-z0-9_-]',
});
/** Present on the entries of a board configured with a subscore. */
export const EntrySubscore = Type.Optional(Type.Integer());
export const PeriodQuery = Type.Optional(
  Type.Union(
    [
      Type.Literal('all'),
      Type.Literal('daily'),
      Type.Literal('weekly'),
      Type.Literal('monthly'),
      Type.Literal('current'),
    ],
    {
      description:
        'Implicit boards: all (default), or the current UTC day, week (from Monday) or month. Configured boards: current (default), their only live period.',
    },
  ),
);
/** `?period=`, the only query of a read. */
export const PeriodOnlyQuery = Type.Object({ period: PeriodQuery });

export const BoardParams = Type.Object({ board: BoardName });
export const PlayerParams = Type.Object({ board: BoardName, playerId: PlayerId });

export const Entry = Type.Object({
  rank: Type.Integer({ minimum: 1 }),
  playerId: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  score: Type.Integer(),
  subscore: EntrySubscore,
});
export const Entries = Type.Array(Entry);

/** The errors every route declares: bad input, and Redis or PostgreSQL unavailable. */
export const Errors = { 400: ErrorBody, 503: ErrorBody };
