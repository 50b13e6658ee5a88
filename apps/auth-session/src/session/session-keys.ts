import { createKeyBuilder } from '@redis-patterns/redis-core';

/** Every Redis key of auth-session. Each script touches one key, so no hash tags are needed. */
export interface SessionKeys {
  /** Hash of one login session. */
  session(sessionId: string): string;
  /** Sorted set of one user's session ids, scored by their absolute expiry (ms). */
  userSessions(userId: string): string;
  /** Sorted set of every live session id, scored by its idle deadline (ms): sessions_active. */
  activeSessions(): string;
  /** Counter of failed logins of one (username, IP) pair. */
  loginFailures(username: string, ip: string): string;
}

export function createSessionKeys(prefix: string): SessionKeys {
  const keys = createKeyBuilder(prefix);
  return {
    session: (sessionId) => keys.key('session', sessionId),
    userSessions: (userId) => keys.key('user', userId, 'sessions'),
    activeSessions: () => keys.key('sessions', 'active'),
    loginFailures: (username, ip) => keys.key('login-failures', username, ip),
  };
}
