import { Type } from '@fastify/type-provider-typebox';
import { MAX_SCORE } from '../leaderboard/score-encoding';

export const BoardName = Type.String({
  pattern: '^[a-z0-9_-]{1,64}$',
  description: '1..64 of [a-z0-9_-]',
});
export const PlayerId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  description: '1..64 of [A-Za-z0-9_-]',
});
export const Score = Type.Integer({
  minimum: -MAX_SCORE,
  maximum: MAX_SCORE,
  description: 'An integer within +-(2^31 - 1)',
});
export const DisplayName = Type.String({
  minLength: 1,
  maxLength: 64,
  // Printable: no control characters, not only spaces.
  pattern: '^[^\\u0000-\\u001F\\u007F]*\\S[^\\u0000-\\u001F\\u007F]*$',
});
export const PeriodQuery = Type.Union(
  [Type.Literal('all'), Type.Literal('daily'), Type.Literal('weekly'), Type.Literal('monthly')],
  { default: 'all', description: 'all-time, or the current UTC day, week (from Monday) or month' },
);
export const SubmitMode = Type.Union(
  [Type.Literal('best'), Type.Literal('increment'), Type.Literal('replace')],
  { default: 'best' },
);

export const BoardParams = Type.Object({ board: BoardName });
export const PlayerParams = Type.Object({ board: BoardName, playerId: PlayerId });

export const Entry = Type.Object({
  rank: Type.Integer({ minimum: 1 }),
  playerId: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  score: Type.Integer(),
});
export const Entries = Type.Array(Entry);
