import { createKeyBuilder } from '@redis-patterns/redis-core';

/** Every Redis key and channel of chat-realtime; all keys of a room share the room's hash tag. */
export interface ChatKeys {
  messages(room: string): string;
  sent(room: string, userId: string, clientMsgId: string): string;
  presence(room: string): string;
  /** The room's offset counter: the offset of its newest message in this epoch. */
  offset(room: string): string;
  /** The room's epoch: renewed when its numbering was lost (Redis restarted empty). */
  epoch(room: string): string;
  /** The room's read cursors: user id -> the offset they have read up to. */
  reads(room: string): string;
  /** The room's delivery cursors: user id -> the offset their pages have received up to. */
  delivered(room: string): string;
  /** A user's message log for the per-user rate limit (tagged by user, not by room). */
  userRate(userId: string): string;
  /** The rooms a user is in, over all replicas, for the per-user room cap. */
  userRooms(userId: string): string;
  /** The rooms a user joined, newest first (the room list): room -> last join ms; no expiry. */
  userMemberships(userId: string): string;
  /** Prefix of the Socket.IO adapter's pub/sub channels. */
  adapterChannel: string;
  /** The channel a replica probes its own adapter subscription on (outside the adapter's pattern). */
  probeChannel(replicaId: string): string;
}

/** User ids come from auth-session and may hold anything; keys must not hold spaces or braces. */
function keySafe(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
}

export function createChatKeys(prefix: string): ChatKeys {
  const keys = createKeyBuilder(prefix);
  return {
    messages: (room) => keys.tagged(room, 'messages'),
    sent: (room, userId, clientMsgId) => keys.tagged(room, 'sent', keySafe(userId), clientMsgId),
    presence: (room) => keys.tagged(room, 'presence'),
    offset: (room) => keys.tagged(room, 'offset'),
    epoch: (room) => keys.tagged(room, 'epoch'),
    reads: (room) => keys.tagged(room, 'reads'),
    delivered: (room) => keys.tagged(room, 'delivered'),
    // A user id is `user:<id>` or `guest:<id>`, so its safe form holds `%3A` and can never be a
    // room's tag (rooms are [a-z0-9_-]).
    userRate: (userId) => keys.tagged(keySafe(userId), 'user', 'rate'),
    userRooms: (userId) => keys.tagged(keySafe(userId), 'user', 'rooms'),
    userMemberships: (userId) => keys.tagged(keySafe(userId), 'user', 'memberships'),
    adapterChannel: keys.key('sio'),
    probeChannel: (replicaId) => `${keys.key('sio')}-probe#${replicaId}`,
  };
}
