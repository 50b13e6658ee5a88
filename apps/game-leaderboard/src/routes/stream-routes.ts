import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { LEADERBOARD_PLUGIN } from '../leaderboard/leaderboard-plugin';
import { BoardParams, Errors, PeriodOnlyQuery } from './shared-schemas';
import { TopEvents } from './stream-schemas';

/** The live top 10 of a board over Server-Sent Events. */
const streamRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { store, stream, queries } = app.leaderboard;

  app.get(
    '/leaderboards/:board/stream',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Server-Sent Events: `top` with the top 10 now and whenever it changes',
        params: BoardParams,
        querystring: PeriodOnlyQuery,
        response: { 200: TopEvents, ...Errors },
      },
    },
    async (request, reply) => {
      const { board } = request.params;
      const { period } = request.query;
      queries.inc({ kind: 'stream' });
      const { entries } = await store.top(board, period, 10, 0);
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-request-id': request.id,
        // Proxies such as nginx would otherwise buffer the stream.
        'x-accel-buffering': 'no',
      });
      stream.add(board, period, reply.raw, entries);
    },
  );
};

export const streamRoutes = fp(streamRoutesPlugin, {
  name: 'game-leaderboard-stream-routes',
  fastify: '5.x',
  dependencies: [LEADERBOARD_PLUGIN],
});
