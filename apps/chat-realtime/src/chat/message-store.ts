import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@redis-patterns/redis-core';
import type { ChatKeys } from './chat-keys';
import type { ChatMessage, ChatUser } from './chat-protocol';
import { appendMessage, initNumbering, readRoom, type StreamEntry } from './chat-scripts';
import type { MessageArchive } from './message-archive';
import { catchupStart, streamIdTime } from './stream-id';

/** The scripts' answer when the room's numbering is gone and an archive must restore it. */
const isNoNumbering = (error: unknown) =>
  error instanceof Error && error.message.startsWith('NONUMBERING');

/** A new room epoch: random, so that a room renumbered after a wipe never reuses one. */
const newEpoch = () => randomBytes(8).toString('hex');

export interface AppendResult {
  message: ChatMessage;
  /** True when this clientMsgId was stored before; `message` is then the first one's id/ts. */
  duplicate: boolean;
  /** The room's epoch the offset belongs to. */
  epoch: string;
}

/** What a join reads: the room's numbering, and either what was missed or the newest. */
export interface RoomRead {
  epoch: string;
  /** The room's newest offset (0 before its first message in this epoch). */
  offset: number;
  /** True: `messages` are every message after the client's offset; false: the newest ones. */
  recovered: boolean;
  /** Oldest first. */
  messages: ChatMessage[];
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
  /** Where acknowledged messages are archived; none: history lives in Redis only. */
  archive?: MessageArchive;
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
    // 0 for an entry stored before offsets existed.
    offset: Number(value.o ?? 0),
    clientMsgId: value.c ?? '',
  };
}

/** The per-room Redis Stream: the source of truth every delivery and catch-up is read from. */
export class MessageStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
    private readonly options: MessageStoreOptions,
  ) {}

  /**
   * Stores the message (once per user and clientMsgId); its stream id becomes its id. Resolves
   * only once the topology's replica-ack policy holds (on Sentinel and Cluster: the append is on
   * a replica too), so an acknowledged message survives a failover. Rejects with what
   * `isRedisUnavailable` recognises when Redis or its replicas could not confirm in time: the
   * message may then be stored or not, and a resend with the same clientMsgId settles it.
   */
  async append(
    room: string,
    user: ChatUser,
    text: string,
    clientMsgId: string,
  ): Promise<AppendResult> {
    const result = await this.numbered(room, () => this.appendOnce(room, user, text, clientMsgId));
    // The ack waits for the commit: an acknowledged message is in PostgreSQL, whatever happens
    // to Redis afterwards. A resend (duplicate) records it too, in case the first try did not.
    await this.options.archive?.record(result.message, result.epoch, clientMsgId);
    return result;
  }

  /**
   * Runs `operation`; when the room's numbering is gone from Redis and an archive holds history,
   * restores it from the archive first (same epoch, offsets continuing), then runs it again.
   */
  private async numbered<T>(room: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (!isNoNumbering(error) || !this.options.archive) throw error;
    }
    const archived = await this.options.archive.numbering(room);
    await initNumbering.runAcknowledged(
      this.redis,
      [this.keys.offset(room), this.keys.epoch(room)],
      [archived?.offset ?? 0, archived?.epoch ?? newEpoch()],
    );
    return operation();
  }

  private async appendOnce(
    room: string,
    user: ChatUser,
    text: string,
    clientMsgId: string,
  ): Promise<AppendResult> {
    const [id, duplicate, offset, epoch] = await appendMessage.runAcknowledged(
      this.redis,
      [
        this.keys.messages(room),
        this.keys.sent(room, user.id, clientMsgId),
        this.keys.offset(room),
        this.keys.epoch(room),
      ],
      [
        this.options.maxLen,
        this.options.dedupeTtlSeconds,
        user.id,
        user.username,
        text,
        clientMsgId,
        newEpoch(),
        this.options.archive ? '0' : '1',
      ],
    );
    return {
      message: { id, room, user, text, ts: streamIdTime(id), offset, clientMsgId },
      duplicate: duplicate === 1,
      epoch,
    };
  }

  /**
   * A join's read: with `since` (the client's epoch and the offset up to which it holds every
   * message), every message after that offset and `recovered: true`, or, when that cannot be
   * answered completely (another epoch, trimmed, more than `recoverLimit`), the newest
   * `historyLimit` and `recovered: false`. Without `since`, the newest `historyLimit`.
   */
  async read(
    room: string,
    since: { epoch: string; offset: number } | undefined,
    recoverLimit: number,
    historyLimit: number,
  ): Promise<RoomRead> {
    const { archive } = this.options;
    const [epoch, offset, recovered, entries, why] = await this.numbered(room, () =>
      readRoom.run(
        this.redis,
        [this.keys.messages(room), this.keys.offset(room), this.keys.epoch(room)],
        [
          newEpoch(),
          since?.epoch ?? '',
          since?.offset ?? 0,
          recoverLimit,
          historyLimit,
          archive ? '0' : '1',
        ],
      ),
    );
    const messages = entries.reverse().map((entry) => toMessage(room, entry));
    if (recovered === 1) return { epoch, offset, recovered: true, messages };
    if (why === 'missing' && since) {
      // Redis no longer holds all of them: the archive may (every acknowledged one is there).
      const found = new Map<number, ChatMessage>();
      if (archive) {
        for (const m of await archive.between(room, since.offset, offset, recoverLimit)) {
          found.set(m.offset, m);
        }
      }
      for (const m of messages) found.set(m.offset, m);
      if (found.size === offset - since.offset) {
        const whole = [...found.values()].sort((a, b) => a.offset - b.offset);
        if (whole[0].offset === since.offset + 1) {
          return { epoch, offset, recovered: true, messages: whole };
        }
      }
    }
    const latest =
      why === 'missing' ? await this.latest(room, historyLimit) : messages.slice(-historyLimit);
    return {
      epoch,
      offset,
      recovered: false,
      messages: await this.older(room, latest, offset, historyLimit),
    };
  }

  /**
   * The newest `limit` messages, `newest` completed from the archive when Redis holds fewer
   * (it restarted empty, or its cap trimmed the room); `top` is the room's newest offset.
   */
  private async older(
    room: string,
    newest: ChatMessage[],
    top: number,
    limit: number,
  ): Promise<ChatMessage[]> {
    const { archive } = this.options;
    if (!archive || newest.length >= limit) return newest;
    const oldest = newest[0]?.offset ?? top + 1;
    if (oldest <= 1) return newest;
    return [...(await archive.below(room, oldest, limit - newest.length)), ...newest];
  }

  /** The newest `limit` messages, oldest first. */
  async latest(room: string, limit: number): Promise<ChatMessage[]> {
    return this.before(room, undefined, limit);
  }

  /**
   * Up to `limit` messages strictly before `beforeId` (or the newest), oldest first: from Redis,
   * completed from the archive when Redis holds fewer (trimmed by the cap, or lost).
   */
  async before(room: string, beforeId: string | undefined, limit: number): Promise<ChatMessage[]> {
    const end = beforeId ? `(${beforeId}` : '+';
    const entries = (await this.redis.xrevrange(
      this.keys.messages(room),
      end,
      '-',
      'COUNT',
      limit,
    )) as StreamEntry[];
    const messages = entries.reverse().map((entry) => toMessage(room, entry));
    const { archive } = this.options;
    if (!archive || messages.length >= limit) return messages;
    const older = await archive.before(room, messages[0]?.id ?? beforeId, limit - messages.length);
    return [...older, ...messages];
  }

  /**
   * What a client that saw `lastSeenId` missed: every later message (plus the resync margin
   * before it, see `catchupStart`), at most `limit`, oldest first.
   */
  async after(room: string, lastSeenId: string, limit: number): Promise<Catchup> {
    const start = catchupStart(lastSeenId, this.options.resyncMarginMs);
    const entries = (await this.redis.xrevrange(
      this.keys.messages(room),
      '+',
      start,
      'COUNT',
      limit + 1,
    )) as StreamEntry[];
    const messages = entries
      .slice(0, limit)
      .reverse()
      .map((entry) => toMessage(room, entry));
    const { archive } = this.options;
    if (!archive || entries.length > limit) return { messages, truncated: entries.length > limit };
    // Redis may have lost the older part (restarted empty, trimmed by the cap): every
    // acknowledged message is archived, so the rest of the window comes from PostgreSQL.
    const older = await archive.from(room, start, messages[0]?.id, limit + 1 - messages.length);
    const whole = [...older, ...messages];
    return { messages: whole.slice(-limit), truncated: whole.length > limit };
  }
}
