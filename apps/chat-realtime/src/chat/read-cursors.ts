import type { RedisClient } from '@redis-patterns/redis-core';
import type { ChatKeys } from './chat-keys';
import { markRead } from './chat-scripts';

/** A room's unread count for one user: `offset - read`. */
export interface UnreadCount {
  room: string;
  /** The room's newest offset. */
  offset: number;
  /** The user's read cursor: they have read every message up to it. */
  read: number;
  unread: number;
}

/** Which cursor: how far a user read (shown), or how far their pages received (delivered). */
export type CursorKind = 'read' | 'delivered';

/**
 * Per user and room, the offset read up to (and the offset delivered up to), in Redis (so every replica and every tab of the
 * user sees the same): what unread counts and read receipts are computed from.
 */
export class ReadCursors {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
  ) {}

  private hash(kind: CursorKind, room: string): string {
    return kind === 'read' ? this.keys.reads(room) : this.keys.delivered(room);
  }

  /** Moves the user's cursor forward to `offset` (clamped); resolves with it and whether it moved. */
  async mark(
    room: string,
    userId: string,
    offset: number,
    kind: CursorKind = 'read',
  ): Promise<{ read: number; moved: boolean }> {
    // The same compare-and-set for both cursors: only the hash differs.
    const [read, moved] = await markRead.run(
      this.redis,
      [this.hash(kind, room), this.keys.offset(room)],
      [userId, offset],
    );
    return { read, moved: moved === 1 };
  }

  /** The cursors of `userIds` in the room (0 for who never read / was never delivered to). */
  async of(
    room: string,
    userIds: string[],
    kind: CursorKind = 'read',
  ): Promise<Record<string, number>> {
    if (userIds.length === 0) return {};
    const values = await this.redis.hmget(this.hash(kind, room), ...userIds);
    return Object.fromEntries(userIds.map((id, i) => [id, Number(values[i] ?? 0)]));
  }

  /** The user's unread count in each room. */
  async unread(userId: string, rooms: string[]): Promise<UnreadCount[]> {
    return Promise.all(
      rooms.map(async (room) => {
        const [offset, read] = await Promise.all([
          this.redis.get(this.keys.offset(room)),
          this.redis.hget(this.keys.reads(room), userId),
        ]);
        const top = Number(offset ?? 0);
        const cursor = Math.min(Number(read ?? 0), top);
        return { room, offset: top, read: cursor, unread: top - cursor };
      }),
    );
  }
}
