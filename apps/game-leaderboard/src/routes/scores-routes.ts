import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import { LEADERBOARD_PLUGIN } from '../leaderboard/leaderboard-plugin';
import { SubmitBody, Submitted } from './scores-schemas';
import { BoardParams, Errors } from './shared-schemas';

/** Score submissions, with the board's operator. */
const scoresRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { store, updates } = app.leaderboard;

  app.post(
    '/leaderboards/:board/scores',
    {
      schema: {
        tags: ['leaderboard'],
        summary:
          "Submit a score with the board's operator (implicit boards: best, increment or replace)",
        params: BoardParams,
        body: SubmitBody,
        response: { 200: Submitted, 409: ErrorBody, 422: ErrorBody, ...Errors },
      },
      // Ajv would coerce "12" or true into a number; a score must be a JSON number.
      preValidation: async (request) => {
        const body = request.body as { score?: unknown; subscore?: unknown } | null;
        for (const field of ['score', 'subscore'] as const) {
          const value = body?.[field];
          if (value !== undefined && typeof value !== 'number') {
            throw new DomainError(400, 'VALIDATION_ERROR', `body/${field} must be a JSON number`);
          }
        }
      },
    },
    async (request) => {
      const { playerId, score, subscore, mode } = request.body;
      const { operator, ...result } = await store.submit(
        request.params.board,
        playerId,
        score,
        mode,
        subscore,
      );
      updates.inc({ operator });
      return result;
    },
  );
};

export const scoresRoutes = fp(scoresRoutesPlugin, {
  name: 'game-leaderboard-scores-routes',
  fastify: '5.x',
  dependencies: [LEADERBOARD_PLUGIN],
});
