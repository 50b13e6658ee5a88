import { Type } from '@fastify/type-provider-typebox';
import { Text } from '@redis-patterns/service-kit';
import { Entries, EntrySubscore, PeriodQuery, PlayerId } from './shared-schemas';

/** No control characters (service-kit's Text); a name of only spaces is refused by the route. */
export const DisplayName = Text({ minLength: 1, maxLength: 64 });

export const Standing = Type.Object({
  rank: Type.Integer(),
  score: Type.Integer(),
  subscore: EntrySubscore,
  total: Type.Integer(),
  percentile: Type.Number(),
});

export const AroundQuery = Type.Object({
  radius: Type.Integer({ minimum: 0, maximum: 50, default: 5 }),
  period: PeriodQuery,
});
export const Around = Type.Object({
  rank: Type.Integer(),
  total: Type.Integer(),
  entries: Entries,
});

export const PlayerIdParams = Type.Object({ playerId: PlayerId });
export const NameBody = Type.Object({ name: DisplayName }, { additionalProperties: false });
export const Named = Type.Object({ playerId: Type.String(), name: Type.String() });
