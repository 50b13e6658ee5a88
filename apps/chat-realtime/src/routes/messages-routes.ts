import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import fp from 'fastify-plugin';
import { isRedisUnavailable } from '@redis-patterns/redis-core';
import { DomainError, isDatabaseUnavailable, unavailable } from '@redis-patterns/service-kit';
import { CHAT_PLUGIN } from '../chat/chat-server';
import { IdentityError, resolveIdentity, type IdentityOptions } from '../chat/identity';
import { isZeroStreamId } from '../chat/stream-id';
import { HistoryQuery, HistoryResponses, RoomParams } from './messages-schemas';

/**
 * `GET /rooms/:room/messages?before=&limit=`: history pages read from the room's stream. Open
 * to anyone while guests are allowed; otherwise it needs an auth-session cookie too.
 */
const messagesRoutesPlugin: FastifyPluginAsyncTypebox<IdentityOptions> = async (app, identity) => {
  app.get(
    '/rooms/:room/messages',
    {
      schema: {
        tags: ['chat'],
        summary: 'A page of a room history, newest page first, messages oldest first',
        params: RoomParams,
        querystring: HistoryQuery,
        response: HistoryResponses,
      },
    },
    async (request) => {
      // Redis refuses an interval ending before 0-0; that is the client's mistake, not an outage.
      if (request.query.before !== undefined && isZeroStreamId(request.query.before)) {
        throw new DomainError(400, 'VALIDATION_ERROR', 'querystring/before must be after 0-0');
      }
      if (!identity.allowGuests) {
        try {
          await resolveIdentity({ cookie: request.headers.cookie }, identity);
        } catch (error) {
          if (error instanceof IdentityError && error.code === 'AUTH_UNAVAILABLE') {
            throw unavailable('AUTH_UNAVAILABLE', error.message);
          }
          throw new DomainError(401, 'UNAUTHENTICATED', (error as Error).message);
        }
      }
      const { room } = request.params;
      const { before, limit } = request.query;
      let messages;
      try {
        messages = await app.messages.before(room, before, limit);
      } catch (error) {
        if (isDatabaseUnavailable(error)) {
          throw unavailable(
            'DATABASE_UNAVAILABLE',
            'the message archive is unavailable; retry shortly',
          );
        }
        if (!isRedisUnavailable(error)) throw error;
        throw unavailable('REDIS_UNAVAILABLE', 'the message store is unavailable; retry shortly');
      }
      return { messages, nextBefore: messages.length === limit ? messages[0].id : null };
    },
  );
};

export const messagesRoutes = fp(messagesRoutesPlugin, {
  name: 'chat-realtime-messages-routes',
  fastify: '5.x',
  dependencies: [CHAT_PLUGIN],
});
