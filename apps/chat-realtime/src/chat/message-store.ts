import { join } from 'node:path';
import { LuaScript, type RedisClient } from '@redis-patterns/redis-core';
import type { ChatKeys } from './chat-keys';
import type { ChatMessage, ChatUser } from './chat-protocol';
import { catchupStart, streamIdTime } from './stream-id';

const appendMessage = LuaScript.fromFile<
  [string, string],
  [number, number, string, string, string, string],
  [string, number]
>(join(__dirname, 'append-message-2.lua'));

type StreamEntry = [id: string, fields: string[]];

export interface AppendResult {
  message: ChatMessage;
  /** True when this clientMsgId was stored before; `message` is then the first one's id/ts. */
  duplicate: boolean;
}

export interface Catchup {
  messages: ChatMessage[];
  /** True when more messages were missed than the catch-up limit; only the newest are returned. */
  truncated: boolean;
}

export interface MessageStoreOptions {
  maxLen: number;
  dedupeTtlSeconds: number;
  resyncMarginMs: number;
}

function toMessage(room: string, [id, fields]: StreamEntry): ChatMessage {
  const value: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) value[fields[i]] = fields[i + 1];
  return {
    id,
    room,
    user: { id: value.u ?? '', username: value.n ?? '' },
    text: value.t ?? '',
    ts: streamIdTime(id),
  };
}

/** The per-room Redis Stream: the source of truth every delivery and catch-up is read from. */
export class MessageStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
    private readonly options: MessageStoreOptions,
  ) {}

  /** Stores the message (once per user and clientMsgId); its stream id becomes its id. */
  async append(
    room: string,
    user: ChatUser,
    text: string,
    clientMsgId: string,
  ): Promise<AppendResult> {
    const [id, duplicate] = await appendMessage.run(
      this.redis,
      [this.keys.messages(room), this.keys.sent(room, user.id, clientMsgId)],
      [
        this.options.maxLen,
        this.options.dedupeTtlSeconds,
        user.id,
        user.username,
        text,
        clientMsgId,
      ],
    );
    return { message: { id, room, user, text, ts: streamIdTime(id) }, duplicate: duplicate === 1 };
  }

  /** The newest `limit` messages, oldest first. */
  async latest(room: string, limit: number): Promise<ChatMessage[]> {
    return this.before(room, undefined, limit);
  }

  /** Up to `limit` messages strictly before `beforeId` (or the newest), oldest first. */
  async before(room: string, beforeId: string | undefined, limit: number): Promise<ChatMessage[]> {
    const end = beforeId ? `(${beforeId}` : '+';
    const entries = (await this.redis.xrevrange(
      this.keys.messages(room),
      end,
      '-',
      'COUNT',
      limit,
    )) as StreamEntry[];
    return entries.reverse().map((entry) => toMessage(room, entry));
  }

  /**
   * What a client that saw `lastSeenId` missed: every later message (plus the resync margin
   * before it, see `catchupStart`), at most `limit`, oldest first.
   */
  async after(room: string, lastSeenId: string, limit: number): Promise<Catchup> {
    const entries = (await this.redis.xrevrange(
      this.keys.messages(room),
      '+',
      catchupStart(lastSeenId, this.options.resyncMarginMs),
      'COUNT',
      limit + 1,
    )) as StreamEntry[];
    const truncated = entries.length > limit;
    return {
      messages: entries
        .slice(0, limit)
        .reverse()
        .map((entry) => toMessage(room, entry)),
      truncated,
    };
  }
}
