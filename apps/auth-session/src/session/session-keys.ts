import { createKeyBuilder } from '@redis-patterns/redis-core';

/** Every Redis key of auth-session (no key is built anywhere else). Each script touches one key
 * or, for the lockout, three keys sharing the username's hash tag. */
export interface SessionKeys {
  /** Hash of one login session. */
  session(sessionId: string): string;
  /** Sorted set of one user's session ids, scored by their absolute expiry (ms). */
  userSessions(userId: string): string;
  /** Sorted set of every live session id, scored by its idle deadline (ms): sessions_active. */
  activeSessions(): string;
  /** Reserved login attempts of one (username, IP) pair; `{username}` tag, same slot as the next. */
  loginAttempts(username: string, ip: string): string;
  /** Reserved login attempts of one username from every client. */
  userLoginAttempts(username: string): string;
  /** Marker of a (username, IP) pair that logged in successfully (exempt from the user limit). */
  knownClient(username: string, ip: string): string;
}

export function createSessionKeys(prefix: string): SessionKeys {
  const keys = createKeyBuilder(prefix);
  return {
    session: (sessionId) => keys.key('session', sessionId),
    userSessions: (userId) => keys.key('user', userId, 'sessions'),
    activeSessions: () => keys.key('sessions', 'active'),
    loginAttempts: (username, ip) => keys.tagged(username, 'login-attempts', ip),
    userLoginAttempts: (username) => keys.tagged(username, 'login-attempts'),
    knownClient: (username, ip) => keys.tagged(username, 'known-client', ip),
  };
}
