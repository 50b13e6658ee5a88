import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { LEADERBOARD_PLUGIN } from '../leaderboard/leaderboard-plugin';
import { Page, Ranks, RanksBody, TopQuery } from './ranks-schemas';
import { BoardParams, Errors, PeriodOnlyQuery } from './shared-schemas';

/** Ranked reads of a board: a page from the top, and the ranks of a list of players. */
const ranksRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { store, queries } = app.leaderboard;

  app.get(
    '/leaderboards/:board/top',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'A page of the board, best first',
        params: BoardParams,
        querystring: TopQuery,
        response: { 200: Page, ...Errors },
      },
    },
    async (request) => {
      const { limit, offset, period } = request.query;
      queries.inc({ kind: 'top' });
      return store.top(request.params.board, period, limit, offset);
    },
  );

  app.post(
    '/leaderboards/:board/ranks',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Ranks of a list of players (a friends board), best first',
        params: BoardParams,
        querystring: PeriodOnlyQuery,
        body: RanksBody,
        response: { 200: Ranks, ...Errors },
      },
    },
    async (request) => {
      queries.inc({ kind: 'ranks' });
      return store.ranks(request.params.board, request.body.playerIds, request.query.period);
    },
  );
};

export const ranksRoutes = fp(ranksRoutesPlugin, {
  name: 'game-leaderboard-ranks-routes',
  fastify: '5.x',
  dependencies: [LEADERBOARD_PLUGIN],
});
