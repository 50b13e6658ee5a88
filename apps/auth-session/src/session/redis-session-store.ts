import { isRedisUnavailable, type RedisClient } from '@redis-patterns/redis-core';
import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { SessionKeys } from './session-keys';
import {
  destroySession,
  indexSession,
  saveSession,
  touchSession,
  type TouchSessionReply,
} from './session-scripts';
import {
  activeIndexSlackMs,
  isSessionId,
  sessionRecordFromFields,
  type SessionRecord,
} from './session-record';

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
 * A 503 for a store that cannot answer now: while it cannot, nobody is treated as logged in or
 * as logged out (fail closed).
 */
function storeDown(cause?: unknown): DomainError {
  const error = unavailable(
    STORE_UNAVAILABLE,
    'The session store is unavailable, try again shortly',
    1,
  );
  // Logged with the 503: a timeout, a failover reply or REDIS_NOT_REPLICATED tell operators apart.
  error.cause = cause;
  return error;
}

/**
 * Redis away, mid-failover, or a write not on a replica in time (`isRedisUnavailable`) becomes
 * 503, so a write that may not survive a failover is never answered as a success; any other
 * error is a bug and stays one (500).
 */
function storeError(error: unknown): unknown {
  return error instanceof DomainError || !isRedisUnavailable(error) ? error : storeDown(error);
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw storeError(error);
  }
}

/**
 * The session store on Redis: one hash per session (fields, not a blob), a sorted set per user
 * (list and revoke), and a sorted set of live sessions (the sessions_active gauge). Only logins
 * create sessions; cookie and bearer sessions are the same records.
 *
 * Writes a user would notice losing (a login and its index entry, a logout, a revocation, the
 * destroy of a pre-login id) resolve only once a replica holds them (`runAcknowledged`: WAIT
 * per the client's replica-ack policy, none on standalone), so a failover cannot undo them.
 */
export class RedisSessionStore {
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly slackMs: number;

  constructor(private readonly options: RedisSessionStoreOptions) {
    this.idleMs = options.idleSeconds * 1000;
    this.maxMs = options.maxSeconds * 1000;
    this.slackMs = activeIndexSlackMs(this.idleMs);
    // Defined now, not on first use: an ioredis auto-pipeline takes its client's scripts when
    // created, so a script first defined while one is pending was not a function in it (500),
    // and the reply count mismatch then wedged the client's auto-pipelining for good.
    touchSession.register(options.redis);
  }

  /** Reads a session on use, sliding its idle TTL; undefined when it does not exist (any more). */
  async load(sessionId: string): Promise<SessionRecord | undefined> {
    if (!isSessionId(sessionId)) {
      this.count('miss');
      return undefined;
    }
    const { redis, keys } = this.options;
    let reply: TouchSessionReply;
    try {
      // No WAIT: a touch only slides the idle expiry and counts use; a failover that loses it
      // ends an idle session at most that window early, and waiting would tax every request.
      reply = await touchSession.run(redis, [keys.session(sessionId)], [this.idleMs, this.slackMs]);
    } catch (error) {
      this.count('error');
      throw storeError(error);
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
      const [createdAt, expiresAt, now] = await saveSession.runAcknowledged(
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
      // Acknowledged too: "log out other devices" finds sessions through this index only.
      await indexSession.runAcknowledged(
        redis,
        [keys.userSessions(identity.userId)],
        [expiresAt, sessionId],
      );
      await this.markActive(sessionId, now, expiresAt);
      return { createdAt, expiresAt };
    });
  }

  /** Deletes a session everywhere at once, durably; true when it existed. */
  async remove(sessionId: string): Promise<boolean> {
    if (!isSessionId(sessionId)) return false;
    const { redis, keys } = this.options;
    return guarded(async () => {
      const userId = await destroySession.runAcknowledged(redis, [keys.session(sessionId)], []);
      // The revocation is durable once the hash is gone; these entries only steer listing and
      // the gauge, which prune vanished sessions themselves, so neither waits nor fails it.
      await Promise.all([
        userId ? redis.zrem(keys.userSessions(userId), sessionId).catch(() => 0) : undefined,
        redis.zrem(keys.activeSessions(), sessionId).catch(() => 0),
      ]);
      return Boolean(userId);
    });
  }

  /** The user's live sessions, oldest first; index entries of vanished sessions are pruned. */
  async listForUser(userId: string): Promise<UserSession[]> {
    const { redis, keys } = this.options;
    const index = keys.userSessions(userId);
    return guarded(async () => {
      // Pruning needs no WAIT: a failover that loses it leaves entries the next listing prunes.
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
