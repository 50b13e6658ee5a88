import { join } from 'node:path';
import type { Session } from 'fastify';
import type { SessionStore } from '@fastify/session';
import { LuaScript, type RedisClient } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { SessionKeys } from './session-keys';
import {
  activeIndexSlackMs,
  isSessionId,
  sessionRecordFromFields,
  type SessionRecord,
} from './session-record';

declare module 'fastify' {
  /** What auth-session keeps in a session; identity fields are set at login only. */
  interface Session {
    userId?: string;
    username?: string;
    ip?: string;
    userAgent?: string;
    createdAt?: number;
    lastSeenAt?: number;
    expiresAt?: number;
    requests?: number;
  }
}

type SaveArgs = [
  idleMs: number,
  maxMs: number,
  userId: string,
  username: string,
  ip: string,
  userAgent: string,
];
const saveSession = LuaScript.fromFile<[string], SaveArgs, [number, number, number]>(
  join(__dirname, 'save-session-1.lua'),
);
const touchSession = LuaScript.fromFile<
  [string],
  [idleMs: number, slackMs: number],
  null | [0] | [1, number, ...string[]]
>(join(__dirname, 'touch-session-1.lua'));
const destroySession = LuaScript.fromFile<[string], [], string | null>(
  join(__dirname, 'destroy-session-1.lua'),
);

/** What a session lookup found; the label of `session_lookups_total`. */
export type LookupResult = 'hit' | 'miss' | 'expired' | 'error';

export interface RedisSessionStoreOptions {
  redis: RedisClient;
  keys: SessionKeys;
  /** A session unused this long is gone. */
  idleSeconds: number;
  /** A session is gone this long after login. */
  maxSeconds: number;
  /** Counts every lookup by result (`session_lookups_total`). */
  lookups?: { inc(labels: { result: LookupResult }): void };
}

/** A user's session with its real id (for revocation) next to what is stored. */
export interface UserSession {
  sessionId: string;
  record: SessionRecord;
}

export const STORE_UNAVAILABLE = 'SESSION_STORE_UNAVAILABLE';

/**
 * Turns any Redis failure into a 503: while the store cannot answer nobody is treated as logged
 * in or as logged out (fail closed).
 */
function storeDown(): DomainError {
  return unavailable(STORE_UNAVAILABLE, 'The session store is unavailable, try again shortly', 1);
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw storeDown();
  }
}

/**
 * The @fastify/session store on Redis: one hash per session (fields, not a blob), a sorted set
 * per user (list and revoke), and a sorted set of live sessions (the sessions_active gauge).
 * Anonymous sessions are never stored: only a logged-in session has a `userId`.
 */
export class RedisSessionStore implements SessionStore {
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly slackMs: number;

  constructor(private readonly options: RedisSessionStoreOptions) {
    this.idleMs = options.idleSeconds * 1000;
    this.maxMs = options.maxSeconds * 1000;
    this.slackMs = activeIndexSlackMs(this.idleMs);
  }

  get(sessionId: string, callback: (error: unknown, session?: Session | null) => void): void {
    this.load(sessionId).then(
      // @fastify/session copies these fields onto its Session and builds the cookie from the
      // plugin options, so the stored shape needs no `cookie`.
      (record) => callback(null, record ? (record as unknown as Session) : null),
      (error: unknown) => callback(error),
    );
  }

  set(sessionId: string, session: Session, callback: (error?: unknown) => void): void {
    if (!session.userId || !session.username) {
      callback();
      return;
    }
    this.save(sessionId, {
      userId: session.userId,
      username: session.username,
      ip: session.ip ?? '',
      userAgent: session.userAgent ?? '',
    }).then(
      () => callback(),
      (error: unknown) => callback(error),
    );
  }

  destroy(sessionId: string, callback: (error?: unknown) => void): void {
    this.remove(sessionId).then(
      () => callback(),
      (error: unknown) => callback(error),
    );
  }

  /** Reads a session on use, sliding its idle TTL; undefined when it does not exist (any more). */
  async load(sessionId: string): Promise<SessionRecord | undefined> {
    if (!isSessionId(sessionId)) {
      this.count('miss');
      return undefined;
    }
    const { redis, keys } = this.options;
    let reply: Awaited<ReturnType<typeof touchSession.run>>;
    try {
      reply = await touchSession.run(redis, [keys.session(sessionId)], [this.idleMs, this.slackMs]);
    } catch {
      this.count('error');
      throw storeDown();
    }
    if (!reply) {
      this.count('miss');
      return undefined;
    }
    if (reply[0] === 0) {
      this.count('expired');
      return undefined;
    }
    const record = sessionRecordFromFields(reply.slice(2) as string[]);
    if (!record) {
      this.count('miss');
      return undefined;
    }
    this.count('hit');
    if (reply[1] === 1) await this.markActive(sessionId, record.lastSeenAt, record.expiresAt);
    return record;
  }

  /** Creates (or merges into) a logged-in session and indexes it for its user. */
  async save(
    sessionId: string,
    identity: { userId: string; username: string; ip: string; userAgent: string },
  ): Promise<{ createdAt: number; expiresAt: number }> {
    const { redis, keys } = this.options;
    return guarded(async () => {
      const [createdAt, expiresAt, now] = await saveSession.run(
        redis,
        [keys.session(sessionId)],
        [
          this.idleMs,
          this.maxMs,
          identity.userId,
          identity.username,
          identity.ip,
          identity.userAgent,
        ],
      );
      if (expiresAt === 0) throw new DomainError(401, 'SESSION_EXPIRED', 'The session has expired');
      const index = keys.userSessions(identity.userId);
      // NX sets the first expiry, GT only ever extends it: the index outlives its longest session.
      await redis
        .multi()
        .zadd(index, expiresAt, sessionId)
        .pexpireat(index, expiresAt, 'NX')
        .pexpireat(index, expiresAt, 'GT')
        .exec();
      await this.markActive(sessionId, now, expiresAt);
      return { createdAt, expiresAt };
    });
  }

  /** Deletes a session everywhere at once; true when it existed. */
  async remove(sessionId: string): Promise<boolean> {
    if (!isSessionId(sessionId)) return false;
    const { redis, keys } = this.options;
    return guarded(async () => {
      const userId = await destroySession.run(redis, [keys.session(sessionId)], []);
      await Promise.all([
        userId ? redis.zrem(keys.userSessions(userId), sessionId) : undefined,
        redis.zrem(keys.activeSessions(), sessionId),
      ]);
      return Boolean(userId);
    });
  }

  /** The user's live sessions, oldest first; index entries of vanished sessions are pruned. */
  async listForUser(userId: string): Promise<UserSession[]> {
    const { redis, keys } = this.options;
    const index = keys.userSessions(userId);
    return guarded(async () => {
      await redis.zremrangebyscore(index, '-inf', Date.now());
      const ids = (await redis.zrange(index, 0, -1)).filter(isSessionId);
      const found = await Promise.all(
        ids.map(async (sessionId) => ({
          sessionId,
          record: sessionRecordFromFields(
            Object.entries(await redis.hgetall(keys.session(sessionId))).flat(),
          ),
        })),
      );
      const gone = found.filter((entry) => !entry.record || entry.record.userId !== userId);
      if (gone.length) {
        const goneIds = gone.map((entry) => entry.sessionId);
        const vanished = gone.filter((entry) => !entry.record).map((entry) => entry.sessionId);
        await Promise.all([
          redis.zrem(index, ...goneIds),
          vanished.length ? redis.zrem(keys.activeSessions(), ...vanished) : undefined,
        ]);
      }
      return found
        .filter((entry): entry is UserSession => entry.record?.userId === userId)
        .sort((a, b) => a.record.createdAt - b.record.createdAt);
    });
  }

  /** Live sessions of every user, for the sessions_active gauge (lags real use by <= slack). */
  async countActive(): Promise<number> {
    const { redis, keys } = this.options;
    return guarded(async () => {
      await redis.zremrangebyscore(keys.activeSessions(), '-inf', Date.now());
      return redis.zcard(keys.activeSessions());
    });
  }

  private async markActive(sessionId: string, seenAt: number, expiresAt: number): Promise<void> {
    const deadline = Math.min(seenAt + this.idleMs, expiresAt);
    // Only the gauge reads this index: a failure here must not fail the request it rides on.
    await this.options.redis
      .zadd(this.options.keys.activeSessions(), deadline, sessionId)
      .catch(() => undefined);
  }

  private count(result: LookupResult): void {
    this.options.lookups?.inc({ result });
  }
}
