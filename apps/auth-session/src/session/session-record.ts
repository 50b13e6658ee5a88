import { createHash } from 'node:crypto';

/** A login session as stored in its Redis hash. Times are ms since the epoch (Redis clock). */
export interface SessionRecord {
  userId: string;
  username: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string;
  userAgent: string;
  /** Requests served with this session (each use adds one atomically). */
  requests: number;
}

/** Session ids (`newSessionId` in session-auth.ts): 24 random bytes in base64url. Anything else is not ours. */
const SESSION_ID = /^[A-Za-z0-9_-]{32}$/;

export function isSessionId(value: string): boolean {
  return SESSION_ID.test(value);
}

/**
 * The id shown to the user (in lists and DELETE paths): a hash of the real one, so a listed or
 * logged id is not the bearer secret that a cookie carries.
 */
export function publicSessionId(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex').slice(0, 32);
}

/** Builds a record from HGETALL's flat `[field, value, ...]`; undefined when a field is missing. */
export function sessionRecordFromFields(fields: readonly string[]): SessionRecord | undefined {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i], fields[i + 1]);
  const userId = map.get('userId');
  const username = map.get('username');
  const createdAt = Number(map.get('createdAt'));
  const lastSeenAt = Number(map.get('lastSeenAt'));
  const expiresAt = Number(map.get('expiresAt'));
  if (!userId || !username || ![createdAt, lastSeenAt, expiresAt].every(Number.isFinite)) {
    return undefined;
  }
  return {
    userId,
    username,
    createdAt,
    lastSeenAt,
    expiresAt,
    ip: map.get('ip') ?? '',
    userAgent: map.get('userAgent') ?? '',
    requests: Number(map.get('requests') ?? 0),
  };
}

/**
 * How long the sessions_active index entry may lag behind real use: a tenth of the idle
 * timeout, at most a minute, so the gauge is off by at most that much per session.
 */
export function activeIndexSlackMs(idleMs: number): number {
  return Math.max(1, Math.min(60_000, Math.floor(idleMs / 10)));
}
