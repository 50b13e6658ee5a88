import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { DomainError, ErrorBody } from '@redis-patterns/service-kit';
import { CronError } from '../leaderboard/cron-schedule';
import { LEADERBOARD_PLUGIN } from '../leaderboard/leaderboard-plugin';
import { BoardConfigBody, BoardView } from './boards-schemas';
import { BoardParams, Errors } from './shared-schemas';

const METADATA_MAX_BYTES = 4096;

/** A board's configuration: PUT (fixed once it has scores) and GET. */
const boardsRoutesPlugin: FastifyPluginAsyncTypebox = async (app) => {
  const { store } = app.leaderboard;

  app.put(
    '/leaderboards/:board',
    {
      schema: {
        tags: ['leaderboard'],
        summary: 'Create a board with a fixed configuration (immutable once it has scores)',
        params: BoardParams,
        body: BoardConfigBody,
        response: { 200: BoardView, 409: ErrorBody, ...Errors },
      },
    },
    async (request) => {
      const { sort, operator, reset, metadata, archiveTop, subscore, webhook } = request.body;
      if (metadata && Buffer.byteLength(JSON.stringify(metadata)) > METADATA_MAX_BYTES) {
        throw new DomainError(
          400,
          'VALIDATION_ERROR',
          'body/metadata must be at most 4 KiB of JSON',
        );
      }
      if (webhook) checkWebhookUrl(webhook.url);
      try {
        return await store.configure(request.params.board, {
          sort,
          operator,
          reset: reset.trim().toLowerCase() === 'none' ? null : reset,
          metadata: metadata ?? null,
          archiveTop: archiveTop ?? null,
          subscore: subscore === undefined || subscore === 'none' ? null : subscore,
          webhook: webhook ? { url: webhook.url, top: webhook.top ?? 10 } : null,
        });
      } catch (error) {
        if (error instanceof CronError) {
          throw new DomainError(400, 'VALIDATION_ERROR', `body/reset: ${error.message}`);
        }
        throw error;
      }
    },
  );

  app.get(
    '/leaderboards/:board',
    {
      schema: {
        tags: ['leaderboard'],
        summary: "A board's configuration (implicit boards: desc, best, per-request mode)",
        params: BoardParams,
        response: { 200: BoardView, 404: ErrorBody, ...Errors },
      },
    },
    async (request) => {
      const view = await store.describe(request.params.board);
      if (!view) {
        throw new DomainError(
          404,
          'BOARD_NOT_FOUND',
          `board ${request.params.board} has no scores and no configuration`,
        );
      }
      return view;
    },
  );
};

/** A webhook must be an absolute http(s) URL without credentials (they would be stored in clear). */
function checkWebhookUrl(text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DomainError(400, 'VALIDATION_ERROR', 'body/webhook/url must be an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DomainError(400, 'VALIDATION_ERROR', 'body/webhook/url must be http or https');
  }
  if (url.username || url.password) {
    throw new DomainError(400, 'VALIDATION_ERROR', 'body/webhook/url must not carry credentials');
  }
}

export const boardsRoutes = fp(boardsRoutesPlugin, {
  name: 'game-leaderboard-boards-routes',
  fastify: '5.x',
  dependencies: [LEADERBOARD_PLUGIN],
});
