import type { RedisClient } from '@redis-patterns/redis-core';
import type { ChatKeys } from './chat-keys';
import type { ChatUser } from './chat-protocol';
import { presenceUpdate } from './chat-scripts';

/** One presence entry: a user seen in a room through one replica. */
export function presenceMember(replicaId: string, user: ChatUser): string {
  return `${replicaId}|${user.id}|${user.username}`;
}

/**
 * The users behind presence entries: one per user id however many replicas and tabs hold it,
 * sorted by name. Replica and user ids hold no `|` (they are generated or URI-encoded); the name
 * is everything after the second one.
 */
export function usersOf(members: string[]): ChatUser[] {
  const users = new Map<string, ChatUser>();
  for (const member of members) {
    const first = member.indexOf('|');
    const second = member.indexOf('|', first + 1);
    if (first < 0 || second < 0) continue;
    const id = member.slice(first + 1, second);
    if (!users.has(id)) users.set(id, { id, username: member.slice(second + 1) });
  }
  return [...users.values()].sort(
    (a, b) => a.username.localeCompare(b.username) || a.id.localeCompare(b.id),
  );
}

/** Presence entries with a lifetime in Redis: a replica that stops refreshing them drops out. */
export class PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
    private readonly ttlMs: number,
  ) {}

  /** Adds or refreshes `add`, removes `remove`, and returns who is in the room now. */
  async update(room: string, add: string[], remove: string[] = []): Promise<ChatUser[]> {
    const members = await presenceUpdate.run(
      this.redis,
      [this.keys.presence(room)],
      [this.ttlMs, add.length, ...add, ...remove],
    );
    return usersOf(members);
  }
}
