import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import { LEADERBOARD_PLUGIN } from '../leaderboard/leaderboard-plugin';
import {
  PeriodList,
  PeriodParams,
  PeriodsQuery,
  Standings,
  StandingsQuery,
} from './periods-schemas';
import { BoardParams, Errors } from './shared-schemas';

/** Finished periods of a reset board: the list, and each one's final standings. */
const periodsRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { archiver, queries } = app.leaderboard;

  app.get(
    '/leaderboards/:board/periods',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Archived periods of a reset board, newest first',
        params: BoardParams,
        querystring: PeriodsQuery,
        response: { 200: PeriodList, ...Errors },
      },
    },
    async (request) => {
      queries.inc({ kind: 'periods' });
      const { limit, before } = request.query;
      return { periods: await archiver.periods(request.params.board, limit, before) };
    },
  );

  app.get(
    '/leaderboards/:board/periods/:id/top',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Final standings of an archived period',
        params: PeriodParams,
        querystring: StandingsQuery,
        response: { 200: Standings, 404: ErrorBody, ...Errors },
      },
    },
    async (request) => {
      queries.inc({ kind: 'periods' });
      const { board, id } = request.params;
      const found = await archiver.standings(board, id, request.query.limit, request.query.offset);
      if (!found) {
        throw new DomainError(
          404,
          'PERIOD_NOT_FOUND',
          `board ${board} has no archived period ${id}`,
        );
      }
      return found;
    },
  );
};

export const periodsRoutes = fp(periodsRoutesPlugin, {
  name: 'game-leaderboard-periods-routes',
  fastify: '5.x',
  dependencies: [LEADERBOARD_PLUGIN],
});
