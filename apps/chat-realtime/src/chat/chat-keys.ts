import { createKeyBuilder } from '@redis-patterns/redis-core';

/** Every Redis key and channel of chat-realtime; all keys of a room share the room's hash tag. */
export interface ChatKeys {
  messages(room: string): string;
  sent(room: string, userId: string, clientMsgId: string): string;
  presence(room: string): string;
  /** Prefix of the Socket.IO adapter's pub/sub channels. */
  adapterChannel: string;
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
    adapterChannel: keys.key('sio'),
  };
}
