import { Type } from '@fastify/type-provider-typebox';
import { MAX_SCORE } from '../leaderboard/score-encoding';
import { EntrySubscore, PlayerId } from './shared-schemas';

export const Score = Type.Integer({
  minimum: -MAX_SCORE,
  maximum: MAX_SCORE,
  description: 'An integer within ±(2^53 − 1)',
});
export const Subscore = Type.Integer({
  minimum: -MAX_SCORE,
  maximum: MAX_SCORE,
  description:
    'Boards configured with a subscore only (default 0): an integer within ±(2^53 − 1), compared after the score and before the arrival',
});
export const SubmitMode = Type.Optional(
  Type.Union([Type.Literal('best'), Type.Literal('increment'), Type.Literal('replace')], {
    description:
      'Implicit boards only (default best); a configured board uses its operator and refuses another',
  }),
);

export const SubmitBody = Type.Object(
  { playerId: PlayerId, score: Score, subscore: Type.Optional(Subscore), mode: SubmitMode },
  { additionalProperties: false },
);
export const Submitted = Type.Object({
  playerId: Type.String(),
  score: Type.Integer(),
  subscore: EntrySubscore,
  rank: Type.Integer(),
});
