import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { isRedisUnavailable } from '@redis-patterns/redis-core';
import {
  DomainError,
  ErrorBody,
  isDatabaseUnavailable,
  unavailable,
} from '@redis-patterns/service-kit';
import { ROOM_PATTERN } from '../chat/chat-protocol';
import { IdentityError, resolveIdentity, type IdentityOptions } from '../chat/identity';
import { isZeroStreamId, STREAM_ID_PATTERN } from '../chat/stream-id';

const ChatUserSchema = Type.Object({ id: Type.String(), username: Type.String() });
const ChatMessageSchema = Type.Object({
  id: Type.String({ description: 'Redis Stream id, also the message id' }),
  room: Type.String(),
  user: ChatUserSchema,
  text: Type.String(),
  ts: Type.Integer({ description: 'Stored at, ms since the epoch (Redis clock)' }),
  offset: Type.Integer({
    description:
      "Its place in the room's numbering (1, 2, 3, ... without gaps; 0 if stored before)",
  }),
  clientMsgId: Type.String({ description: "The sender's id for this send" }),
});
const HistoryPage = Type.Object({
  messages: Type.Array(ChatMessageSchema, { description: 'Oldest first' }),
  nextBefore: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as `before` for the previous page; null when there is none',
  }),
});

/**
 * `GET /rooms/:room/messages?before=&limit=`: history pages read from the room's stream. Open
 * to anyone while guests are allowed; otherwise it needs an auth-session cookie too.
 */
const messagesRoutes: FastifyPluginAsyncTypebox<IdentityOptions> = async (app, identity) => {
  app.get(
    '/rooms/:room/messages',
    {
      schema: {
        tags: ['chat'],
        summary: 'A page of a room history, newest page first, messages oldest first',
        params: Type.Object({ room: Type.String({ pattern: ROOM_PATTERN }) }),
        querystring: Type.Object({
          before: Type.Optional(
            Type.String({
              pattern: STREAM_ID_PATTERN,
              description: 'Exclusive upper id, a message id after 0-0',
            }),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        }),
        response: {
          200: HistoryPage,
          400: ErrorBody,
          401: ErrorBody,
          503: ErrorBody,
        },
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

export default messagesRoutes;
