import { Type } from '@fastify/type-provider-typebox';
import { ErrorBody } from '@redis-patterns/service-kit';
import { ROOM_PATTERN } from '../chat/chat-protocol';
import { STREAM_ID_PATTERN } from '../chat/stream-id';

const ChatUserSchema = Type.Object({ id: Type.String(), username: Type.String() });

export const ChatMessageSchema = Type.Object({
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

export const HistoryPage = Type.Object({
  messages: Type.Array(ChatMessageSchema, { description: 'Oldest first' }),
  nextBefore: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as `before` for the previous page; null when there is none',
  }),
});

export const RoomParams = Type.Object({ room: Type.String({ pattern: ROOM_PATTERN }) });

export const HistoryQuery = Type.Object({
  before: Type.Optional(
    Type.String({
      pattern: STREAM_ID_PATTERN,
      description: 'Exclusive upper id, a message id after 0-0',
    }),
  ),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
});

export const HistoryResponses = {
  200: HistoryPage,
  400: ErrorBody,
  401: ErrorBody,
  503: ErrorBody,
};
