import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import { LEADERBOARD_PLUGIN } from '../leaderboard/leaderboard-plugin';
import { Around, AroundQuery, Named, NameBody, PlayerIdParams, Standing } from './players-schemas';
import { Errors, PeriodOnlyQuery, PlayerParams } from './shared-schemas';

function notOnBoard(board: string, playerId: string): DomainError {
  return new DomainError(404, 'PLAYER_NOT_FOUND', `${playerId} is not on board ${board}`);
}

/** One player: standing, the players around them, display name, removal from a board. */
const playersRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { store, queries } = app.leaderboard;

  app.get(
    '/leaderboards/:board/players/:playerId',
    {
      schema: {
        tags: ['leaderboard'],
        summary: "A player's rank, score and percentile",
        params: PlayerParams,
        querystring: PeriodOnlyQuery,
        response: { 200: Standing, 404: ErrorBody, ...Errors },
      },
    },
    async (request) => {
      const { board, playerId } = request.params;
      queries.inc({ kind: 'rank' });
      const standing = await store.standing(board, playerId, request.query.period);
      if (!standing) throw notOnBoard(board, playerId);
      return standing;
    },
  );

  app.get(
    '/leaderboards/:board/players/:playerId/around',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'The players around one player (filled from the other side at the edges)',
        params: PlayerParams,
        querystring: AroundQuery,
        response: { 200: Around, 404: ErrorBody, ...Errors },
      },
    },
    async (request) => {
      const { board, playerId } = request.params;
      const { radius, period } = request.query;
      queries.inc({ kind: 'around' });
      const around = await store.around(board, playerId, period, radius);
      if (!around) throw notOnBoard(board, playerId);
      return around;
    },
  );

  app.put(
    '/players/:playerId',
    {
      schema: {
        tags: ['players'],
        summary: 'Set the display name shown on every board',
        params: PlayerIdParams,
        body: NameBody,
        response: { 200: Named, ...Errors },
      },
    },
    async (request) => {
      const { playerId } = request.params;
      const name = request.body.name.trim();
      if (name === '')
        throw new DomainError(400, 'VALIDATION_ERROR', 'body/name must not be blank');
      await store.setName(playerId, name);
      return { playerId, name };
    },
  );

  app.delete(
    '/leaderboards/:board/players/:playerId',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Remove a player from the board and every retained period of it',
        params: PlayerParams,
        response: { 204: Type.Null(), 404: ErrorBody, ...Errors },
      },
    },
    async (request, reply) => {
      const { board, playerId } = request.params;
      if (!(await store.remove(board, playerId))) throw notOnBoard(board, playerId);
      return reply.code(204).send(null);
    },
  );
};

export const playersRoutes = fp(playersRoutesPlugin, {
  name: 'game-leaderboard-players-routes',
  fastify: '5.x',
  dependencies: [LEADERBOARD_PLUGIN],
});
