import type { RedisClient } from '@redis-patterns/redis-core';
import type { ChatKeys } from './chat-keys';

/** How many rooms a user's room list keeps: the most recently joined ones. */
export const ROOM_LIST_SIZE = 50;

/**
 * The rooms a user has joined, on any replica and from any tab, newest first: the room list the
 * page shows. Kept in Redis by user (one sorted set, room -> last join), so a user opening the
 * page on another replica or browser sees the same list. Capped at `ROOM_LIST_SIZE`.
 */
export class RoomMemberships {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
  ) {}

  /** Puts `room` at the top of the user's list, dropping the oldest beyond the cap. */
  async joined(userId: string, room: string): Promise<void> {
    const key = this.keys.userMemberships(userId);
    // One key, so MULTI is atomic on a Cluster too: the list never holds more than the cap.
    await this.redis
      .multi()
      .zadd(key, Date.now(), room)
      .zremrangebyrank(key, 0, -(ROOM_LIST_SIZE + 1))
      .exec();
  }

  /** The user's rooms, the most recently joined first. */
  async list(userId: string): Promise<string[]> {
    return this.redis.zrevrange(this.keys.userMemberships(userId), 0, ROOM_LIST_SIZE - 1);
  }
}
