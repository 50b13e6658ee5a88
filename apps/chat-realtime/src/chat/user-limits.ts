import { randomBytes } from 'node:crypto';
import type { RedisClient } from '@redis-patterns/redis-core';
import type { ChatKeys } from './chat-keys';
import { userRate, userRooms } from './chat-scripts';

export interface UserLimitsOptions {
  /** Messages per user per window, over all their sockets and replicas. */
  messageMax: number;
  messageWindowMs: number;
  /** Rooms one user may be in at once, over all their sockets and replicas. */
  roomsPerUser: number;
  /** Lifetime of a room entry no replica refreshes (the presence TTL). */
  roomTtlMs: number;
}

/**
 * The limits that must hold for a user however many sockets they open, on whichever replicas:
 * kept in Redis, because a user's sockets may sit on every replica.
 */
export class UserLimits {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
    private readonly options: UserLimitsOptions,
  ) {}

  /** Takes one message from the user's budget: 0 when taken, else the ms until one is free. */
  async takeMessage(userId: string): Promise<number> {
    const [taken, retryAfterMs] = await userRate.run(
      this.redis,
      [this.keys.userRate(userId)],
      [this.options.messageMax, this.options.messageWindowMs, randomBytes(8).toString('hex')],
    );
    return taken === 1 ? 0 : retryAfterMs;
  }

  /** Admits the user to `room` unless they already hold the cap of other rooms. */
  async admitRoom(userId: string, room: string): Promise<boolean> {
    const admitted = await userRooms.run(
      this.redis,
      [this.keys.userRooms(userId)],
      [this.options.roomsPerUser, this.options.roomTtlMs, room],
    );
    return admitted === 1;
  }

  /** Refreshes the rooms this replica holds the user in, so that they keep counting. */
  async refreshRooms(userId: string, rooms: string[]): Promise<void> {
    await userRooms.run(
      this.redis,
      [this.keys.userRooms(userId)],
      [this.options.roomsPerUser, this.options.roomTtlMs, '', ...rooms],
    );
  }

  /**
   * Frees the room when the user's last socket on this replica left it. If another replica
   * still holds them there, its next heartbeat counts the room again.
   */
  async leaveRoom(userId: string, room: string): Promise<void> {
    await this.redis.zrem(this.keys.userRooms(userId), room);
  }
}
