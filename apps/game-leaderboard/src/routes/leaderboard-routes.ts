import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import type { LeaderboardStore } from '../leaderboard/leaderboard-store';
import type { TopStream } from '../leaderboard/top-stream';
import {
  BoardParams,
  DisplayName,
  Entries,
  PeriodQuery,
  PlayerId,
  PlayerParams,
  Score,
  SubmitMode,
} from './leaderboard-schemas';

/** The part of a prom-client counter the routes use. */
export interface LabelledCounter<Label extends string> {
  inc(labels: Record<Label, string>): void;
}

export interface LeaderboardRoutesOptions {
  store: LeaderboardStore;
  stream: TopStream;
  /** leaderboard_updates_total{mode} */
  updates: LabelledCounter<'mode'>;
  /** leaderboard_queries_total{kind} */
  queries: LabelledCounter<'kind'>;
}

const Errors = { 400: ErrorBody, 503: ErrorBody };

const leaderboardRoutes: FastifyPluginAsyncTypebox<LeaderboardRoutesOptions> = async (
  app,
  { store, stream, updates, queries },
) => {
  app.post(
    '/leaderboards/:board/scores',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Submit a score: keep the best (default), add to it, or replace it',
        params: BoardParams,
        body: Type.Object(
          { playerId: PlayerId, score: Score, mode: SubmitMode },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            playerId: Type.String(),
            score: Type.Integer(),
            rank: Type.Integer(),
          }),
          422: ErrorBody,
          ...Errors,
        },
      },
      // Ajv would coerce "12" or true into a number; a score must be a JSON number.
      preValidation: async (request) => {
        const score = (request.body as { score?: unknown } | null)?.score;
        if (score !== undefined && typeof score !== 'number') {
          throw new DomainError(400, 'VALIDATION_ERROR', 'body/score must be a JSON number');
        }
      },
    },
    async (request) => {
      const { playerId, score, mode } = request.body;
      const result = await store.submit(request.params.board, playerId, score, mode);
      updates.inc({ mode });
      return result;
    },
  );

  app.get(
    '/leaderboards/:board/top',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'A page of the board, best first',
        params: BoardParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
          offset: Type.Integer({ minimum: 0, maximum: 100_000_000, default: 0 }),
          period: PeriodQuery,
        }),
        response: { 200: Type.Object({ entries: Entries, total: Type.Integer() }), ...Errors },
      },
    },
    async (request) => {
      const { limit, offset, period } = request.query;
      queries.inc({ kind: 'top' });
      return store.top(request.params.board, period, limit, offset);
    },
  );

  app.get(
    '/leaderboards/:board/players/:playerId',
    {
      schema: {
        tags: ['leaderboard'],
        summary: "A player's rank, score and percentile",
        params: PlayerParams,
        querystring: Type.Object({ period: PeriodQuery }),
        response: {
          200: Type.Object({
            rank: Type.Integer(),
            score: Type.Integer(),
            total: Type.Integer(),
            percentile: Type.Number(),
          }),
          404: ErrorBody,
          ...Errors,
        },
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
        querystring: Type.Object({
          radius: Type.Integer({ minimum: 0, maximum: 50, default: 5 }),
          period: PeriodQuery,
        }),
        response: {
          200: Type.Object({ rank: Type.Integer(), total: Type.Integer(), entries: Entries }),
          404: ErrorBody,
          ...Errors,
        },
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

  app.post(
    '/leaderboards/:board/ranks',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Ranks of a list of players (a friends board), best first',
        params: BoardParams,
        querystring: Type.Object({ period: PeriodQuery }),
        body: Type.Object(
          { playerIds: Type.Array(PlayerId, { minItems: 1, maxItems: 100 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ entries: Entries, unknown: Type.Array(Type.String()) }),
          ...Errors,
        },
      },
    },
    async (request) => {
      queries.inc({ kind: 'ranks' });
      return store.ranks(request.params.board, request.body.playerIds, request.query.period);
    },
  );

  app.put(
    '/players/:playerId',
    {
      schema: {
        tags: ['players'],
        summary: 'Set the display name shown on every board',
        params: Type.Object({ playerId: PlayerId }),
        body: Type.Object({ name: DisplayName }, { additionalProperties: false }),
        response: {
          200: Type.Object({ playerId: Type.String(), name: Type.String() }),
          ...Errors,
        },
      },
    },
    async (request) => {
      const { playerId } = request.params;
      const name = request.body.name.trim();
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

  app.get(
    '/leaderboards/:board/stream',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Server-Sent Events: `top` with the top 10 now and whenever it changes',
        params: BoardParams,
        querystring: Type.Object({ period: PeriodQuery }),
        response: {
          200: Type.String({ description: 'text/event-stream of `top` events {entries}' }),
          ...Errors,
        },
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

function notOnBoard(board: string, playerId: string): DomainError {
  return new DomainError(404, 'PLAYER_NOT_FOUND', `${playerId} is not on board ${board}`);
}

export default leaderboardRoutes;
