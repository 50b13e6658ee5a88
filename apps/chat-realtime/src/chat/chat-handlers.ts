import { isRedisUnavailable } from '@redis-patterns/redis-core';
import {
  errorAck,
  isErrorAck,
  parseJoin,
  parseRead,
  parseRoomRequest,
  parseSend,
  parseUnread,
} from './chat-protocol';
import {
  failureAck,
  isTransient,
  leaveRoom,
  roomsOf,
  type ChatContext,
  type ChatSocket,
  type Handler,
} from './chat-context';
import type { AppendResult } from './message-store';
import type { CursorKind } from './read-cursors';
import { streamIdAt } from './stream-id';

type HandlerFactory = (ctx: ChatContext, socket: ChatSocket) => Handler;

/**
 * Whether the socket may enter `room`: the per-socket and per-user room caps. Resolves with the
 * error ack to send, or undefined when admitted.
 */
async function admitRoom(ctx: ChatContext, socket: ChatSocket, room: string) {
  const { options } = ctx;
  if (socket.rooms.has(room)) return undefined;
  // Each room a socket is in costs memory on this replica and a presence entry in Redis.
  if (roomsOf(socket) >= options.maxRoomsPerSocket) {
    ctx.counters.refused.inc({ limit: 'rooms_per_socket' });
    return errorAck(
      'TOO_MANY_ROOMS',
      `a connection may be in ${options.maxRoomsPerSocket} rooms at most; leave one first`,
    );
  }
  if (ctx.local.userHere(room, socket)) return undefined;
  let admitted: boolean;
  try {
    admitted = await ctx.limits.admitRoom(socket.data.user.id, room);
  } catch (error) {
    ctx.app.log.warn({ err: error, room }, 'join: room cap not checked');
    return failureAck(error);
  }
  if (admitted) return undefined;
  ctx.counters.refused.inc({ limit: 'rooms_per_user' });
  return errorAck(
    'TOO_MANY_ROOMS',
    `a user may be in ${options.maxRoomsPerUser} rooms at most; leave one first`,
  );
}

const join: HandlerFactory = (ctx, socket) => async (payload, ack) => {
  const { options, store, cursors } = ctx;
  const request = parseJoin(payload);
  if (isErrorAck(request)) return ack(request);
  const { room, lastSeenId, since } = request;
  const refusal = await admitRoom(ctx, socket, room);
  if (refusal) return ack(refusal);
  // Join before reading: a message stored meanwhile is then delivered live or read, never
  // neither (a duplicate is dropped by id on the client).
  const wasMember = socket.rooms.has(room);
  await socket.join(room);
  const fresh = ctx.local.add(room, socket);
  try {
    const [users, reply] = await Promise.all([
      ctx.presence.update(room, [ctx.member(socket.data.user)]),
      lastSeenId && !since
        ? store.after(room, lastSeenId, options.catchupLimit).then((catchup) => ({
            history: catchup.messages,
            truncated: catchup.truncated,
          }))
        : store.read(room, since, options.catchupLimit, options.historyLimit).then((read) => ({
            history: read.messages,
            truncated: false,
            epoch: read.epoch,
            offset: read.offset,
            // Only a recovery is answered recovered or not; a fresh join just gets history.
            ...(since ? { recovered: read.recovered } : {}),
          })),
      // In the list before the ack: the page's room list on any replica shows it from now on.
      ctx.memberships.joined(socket.data.user.id, room),
    ]);
    // Receipts start from where the members present now have received and read up to.
    const ids = [...new Set([socket.data.user.id, ...users.map((user) => user.id)])];
    const [reads, delivered] = await Promise.all([
      cursors.of(room, ids, 'read'),
      cursors.of(room, ids, 'delivered'),
    ]);
    ack({ ...reply, presence: users, read: reads[socket.data.user.id] ?? 0, reads, delivered });
    if (fresh) ctx.publishPresence(room, users, true);
  } catch (error) {
    ctx.app.log.warn({ err: error, room }, 'join failed');
    if (!wasMember) {
      await socket.leave(room);
      const gone = ctx.local.remove(room, socket);
      if (gone) ctx.limits.leaveRoom(gone.id, room).catch(() => {});
    }
    ack(failureAck(error));
  }
};

const leave: HandlerFactory = (ctx, socket) => async (payload, ack) => {
  const request = parseRoomRequest(payload);
  if (isErrorAck(request)) return ack(request);
  try {
    await leaveRoom(ctx, request.room, socket);
    ack({ ok: true });
  } catch (error) {
    // The presence entry expires by itself: it is no longer refreshed.
    ctx.app.log.warn({ err: error, room: request.room }, 'leave: presence not updated');
    ack({ ok: true });
  }
};

/** How long the user must wait before sending again (0: go), per user in Redis. */
async function messageBudget(ctx: ChatContext, socket: ChatSocket): Promise<number> {
  // Per user, in Redis: a user's sockets may sit on every replica.
  try {
    return await ctx.limits.takeMessage(socket.data.user.id);
  } catch (error) {
    if (!isRedisUnavailable(error)) throw error;
    const now = Date.now();
    return socket.data.fallback.tryTake(now)
      ? 0
      : Math.max(1, socket.data.fallback.retryAfterMs(now));
  }
}

const message: HandlerFactory = (ctx, socket) => async (payload, ack) => {
  const { counters, app, options } = ctx;
  const request = parseSend(payload);
  if (isErrorAck(request)) {
    counters.messages.inc({ result: 'invalid' });
    return ack(request);
  }
  const { room, text, clientMsgId } = request;
  if (!socket.rooms.has(room)) {
    counters.messages.inc({ result: 'invalid' });
    return ack(errorAck('NOT_IN_ROOM', `join ${room} before sending to it`));
  }
  let retryAfterMs: number;
  try {
    retryAfterMs = await messageBudget(ctx, socket);
  } catch (error) {
    counters.messages.inc({ result: 'error' });
    app.log.error({ err: error, room }, 'message: rate not checked');
    return ack(failureAck(error));
  }
  if (retryAfterMs > 0) {
    counters.messages.inc({ result: 'rate_limited' });
    const seconds = Math.ceil(retryAfterMs / 1000);
    return ack(errorAck('RATE_LIMITED', `too many messages; retry in ${seconds} s`));
  }
  let stored: AppendResult;
  try {
    stored = await ctx.store.append(room, socket.data.user, text, clientMsgId);
  } catch (error) {
    // Never a success: the append may or may not be stored (or replicated, or archived); a
    // resend with the same clientMsgId settles it without a second copy.
    const transient = isTransient(error);
    counters.messages.inc({ result: transient ? 'unavailable' : 'error' });
    if (transient) app.log.warn({ err: error, room }, 'message not acknowledged');
    else app.log.error({ err: error, room }, 'message failed');
    return ack(failureAck(error));
  }
  const { message: sent, duplicate, epoch } = stored;
  const reply = { id: sent.id, ts: sent.ts, offset: sent.offset, epoch };
  if (duplicate) {
    counters.messages.inc({ result: 'duplicate' });
    // The first attempt may have died between storing and broadcasting: members re-read
    // from just before it instead of getting a second broadcast.
    ctx.io.to(room).emit('resync', {
      room,
      since: streamIdAt(sent.ts - options.resyncMarginMs),
    });
    return ack({ ...reply, duplicate: true });
  }
  counters.messages.inc({ result: 'stored' });
  // With its epoch, so that a member sees at once when the room was renumbered.
  ctx.emitOwn(room, 'message', { ...sent, epoch });
  ack(reply);
};

// The receipts: every member (the sender's tabs included) learns how far this user's pages
// received (`delivered`) and read (`read`) the room.
function moveCursor(kind: CursorKind): HandlerFactory {
  return (ctx, socket) => async (payload, ack) => {
    const request = parseRead(payload);
    if (isErrorAck(request)) return ack(request);
    const { room, offset } = request;
    if (!socket.rooms.has(room)) return ack(errorAck('NOT_IN_ROOM', `join ${room} first`));
    try {
      const { read, moved } = await ctx.cursors.mark(room, socket.data.user.id, offset, kind);
      if (moved) ctx.io.to(room).emit(kind, { room, user: socket.data.user, offset: read });
      ack(kind === 'read' ? { read } : { delivered: read });
    } catch (error) {
      ctx.app.log.warn({ err: error, room, kind }, 'cursor not moved');
      ack(failureAck(error));
    }
  };
}

const unread: HandlerFactory = (ctx, socket) => async (payload, ack) => {
  const request = parseUnread(payload);
  if (isErrorAck(request)) return ack(request);
  try {
    ack({ rooms: await ctx.cursors.unread(socket.data.user.id, request.rooms) });
  } catch (error) {
    ack(failureAck(error));
  }
};

/** The user's room list (every room they joined, on any replica), with their unread counts. */
const rooms: HandlerFactory = (ctx, socket) => async (_payload, ack) => {
  const userId = socket.data.user.id;
  try {
    const joined = await ctx.memberships.list(userId);
    ack({ rooms: joined.length ? await ctx.cursors.unread(userId, joined) : [] });
  } catch (error) {
    ack(failureAck(error));
  }
};

const typing: HandlerFactory = (ctx, socket) => (payload, ack) => {
  const request = parseRoomRequest(payload);
  if (isErrorAck(request)) return ack(request);
  if (socket.rooms.has(request.room)) {
    if (!socket.data.typing.tryTake(Date.now())) {
      ctx.counters.refused.inc({ limit: 'typing' });
      return ack(errorAck('RATE_LIMITED', 'too many typing events; nothing was relayed'));
    }
    socket.volatile.to(request.room).emit('typing', { room: request.room, user: socket.data.user });
  }
  ack({ ok: true });
};

/** Every client event and its handler. */
export const HANDLERS: Record<string, HandlerFactory> = {
  join,
  leave,
  message,
  read: moveCursor('read'),
  delivered: moveCursor('delivered'),
  unread,
  rooms,
  typing,
};
