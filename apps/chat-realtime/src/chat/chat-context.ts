import type { Server, Socket } from 'socket.io';
import { isRedisUnavailable } from '@redis-patterns/redis-core';
import { isDatabaseUnavailable, type ServiceInstance } from '@redis-patterns/service-kit';
import type { ChatConfig } from '../config';
import { errorAck, type ChatUser, type ErrorAck } from './chat-protocol';
import type { LocalRooms } from './local-rooms';
import type { MessageStore } from './message-store';
import type { PresenceStore } from './presence';
import type { ReadCursors } from './read-cursors';
import type { RoomMemberships } from './room-memberships';
import type { SlidingWindowLimiter } from './rate-limiter';
import type { UserLimits } from './user-limits';

/** What each connected socket carries. */
export interface ChatSocketData {
  user: ChatUser;
  /**
   * The message limit of this socket alone, used only while the per-user limit in Redis cannot
   * be checked: on a Cluster the user's key may sit on a shard that is failing over while the
   * room's is fine, and the limit must not make the room unavailable.
   */
  fallback: SlidingWindowLimiter;
  /** `typing` events this socket may relay (per socket: typing is volatile and local). */
  typing: SlidingWindowLimiter;
}

// Events are typed `unknown` on purpose: every client payload is validated before use.
type ChatEvents = Record<string, (...args: unknown[]) => void>;
export type ChatIo = Server<ChatEvents, ChatEvents, ChatEvents, ChatSocketData>;
export type ChatSocket = Socket<ChatEvents, ChatEvents, ChatEvents, ChatSocketData>;
export type Ack = (response: unknown) => void;
export type Handler = (payload: unknown, ack: Ack) => Promise<void> | void;

/** The counters the handlers move (see chat-metrics.ts). */
export interface ChatCounters {
  messages: { inc(labels: { result: string }): void };
  refused: { inc(labels: { limit: string }): void };
}

/** What the socket handlers share: the stores, this replica's rooms, and the replica's state. */
export interface ChatContext {
  app: ServiceInstance;
  io: ChatIo;
  options: ChatConfig;
  store: MessageStore;
  presence: PresenceStore;
  cursors: ReadCursors;
  /** The rooms each user joined: the page's room list. */
  memberships: RoomMemberships;
  limits: UserLimits;
  local: LocalRooms;
  counters: ChatCounters;
  /** This replica's presence entry for the user. */
  member(user: ChatUser): string;
  /** Set while this replica shuts down. */
  closing: boolean;
  /**
   * Broadcasts this replica's own message: local sockets get it synchronously, and only
   * deliveries that came through Redis count as cross-replica deliveries.
   */
  emitOwn(room: string, event: string, payload: unknown): void;
  /** Tells the room (everywhere, or this replica's sockets only) who is there. */
  publishPresence(room: string, users: ChatUser[], everywhere: boolean): void;
}

function unavailable(): ErrorAck {
  return errorAck('UNAVAILABLE', 'the message store is unavailable; retry shortly');
}

/**
 * The error ack for a failed Redis call: `UNAVAILABLE` (retry with the same clientMsgId) when
 * Redis was away, mid-failover or could not copy the write to a replica in time; otherwise a
 * bug, never presented as something a retry fixes.
 */
export function failureAck(error: unknown): ErrorAck {
  return isTransient(error)
    ? unavailable()
    : errorAck('INTERNAL_ERROR', 'the request failed on the server');
}

/** Redis or the archive was away or too slow: a retry may succeed. */
export function isTransient(error: unknown): boolean {
  return isRedisUnavailable(error) || isDatabaseUnavailable(error);
}

/** Rooms a socket is in besides its own (Socket.IO puts every socket in a room named by its id). */
export const roomsOf = (socket: ChatSocket) =>
  socket.rooms.size - (socket.rooms.has(socket.id) ? 1 : 0);

/** Leaves the room; the user's last socket here removes their presence entry and room count. */
export async function leaveRoom(ctx: ChatContext, room: string, socket: ChatSocket): Promise<void> {
  await socket.leave(room);
  const gone = ctx.local.remove(room, socket);
  if (!gone) return;
  const [users] = await Promise.all([
    ctx.presence.update(room, [], [ctx.member(gone)]),
    ctx.limits.leaveRoom(gone.id, room),
  ]);
  if (!ctx.closing) ctx.publishPresence(room, users, true);
}
