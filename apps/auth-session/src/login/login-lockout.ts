import { ReplyError } from 'ioredis';
import type { RedisClient } from '@redis-patterns/redis-core';
import { DomainError } from '@redis-patterns/service-kit';
import type { SessionKeys } from '../session/session-keys';
import { reserveAttempt, settleAttempt, type AttemptKeys } from './login-scripts';

/**
 * Whether a failed settle certainly did not happen, so that sending it again cannot give a slot
 * back twice: Redis answered with an error (the script did not run), or the command was never
 * written (offline queue off). A timeout or a connection closed under it may have been applied.
 */
export function certainlyNotApplied(error: unknown): boolean {
  return (
    error instanceof ReplyError ||
    (error instanceof Error && /enableOfflineQueue/.test(error.message))
  );
}

export interface LoginLockoutOptions {
  redis: RedisClient;
  keys: SessionKeys;
  /** Attempts of one (username, client IP) pair in the window before 429. */
  maxFailures: number;
  /** Attempts of one username, from every client, in the window before 429 (> maxFailures). */
  maxFailuresPerUser: number;
  /** Window of the counts, and so the longest lockout. */
  windowSeconds: number;
  /**
   * How long a (username, IP) pair that logged in stays exempt from the per-username limit
   * (0: never). @default 0
   */
  knownClientSeconds?: number;
}

/** Seconds for Retry-After: whole seconds, at least 1, never telling a client to come back early. */
export function retryAfterSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

export function lockedOut(ttlMs: number): DomainError {
  const seconds = retryAfterSeconds(ttlMs);
  return new DomainError(429, 'LOGIN_LOCKED', `Too many failed logins, try again in ${seconds} s`, {
    'retry-after': String(seconds),
  });
}

/**
 * Brute-force protection in Redis, shared by every replica. An attempt is reserved atomically
 * BEFORE its password is hashed, per (username, IP) and per username; a reserved attempt that
 * fails keeps its slot, so at most `maxFailures` guesses per pair and `maxFailuresPerUser` per
 * username are ever evaluated in a window, whatever the parallelism. A pair that logged in
 * successfully ("known client") is exempt from the per-username limit for a while.
 *
 * No WAIT on any of these writes: a failover that loses the last counts grants at most one
 * window's guesses again, once, while waiting would add a replica round trip to every login.
 */
export class LoginLockout {
  constructor(private readonly options: LoginLockoutOptions) {
    // Defined up front: see RedisSessionStore (a script defined while an auto-pipeline is
    // pending is missing from it).
    reserveAttempt.register(options.redis);
    settleAttempt.register(options.redis);
  }

  private keysOf(username: string, ip: string): AttemptKeys {
    return [
      this.options.keys.loginAttempts(username, ip),
      this.options.keys.userLoginAttempts(username),
      this.options.keys.knownClient(username, ip),
    ];
  }

  /** Reserves one attempt, or throws 429. Redis errors propagate (the caller fails closed). */
  async reserve(username: string, ip: string): Promise<void> {
    const [reserved, ttl] = await reserveAttempt.run(
      this.options.redis,
      this.keysOf(username, ip),
      [
        this.options.windowSeconds * 1000,
        this.options.maxFailures,
        this.options.maxFailuresPerUser,
      ],
    );
    if (reserved !== 1) throw lockedOut(ttl);
  }

  /**
   * The password was right: the pair starts over and becomes a known client; the user's other
   * attempts (other clients' failures) still count.
   */
  async succeeded(username: string, ip: string): Promise<void> {
    await settleAttempt.run(this.options.redis, this.keysOf(username, ip), [
      'success',
      (this.options.knownClientSeconds ?? 0) * 1000,
    ]);
  }

  /** The attempt was never evaluated (no hash was run): its slot goes back to both counts. */
  async unused(username: string, ip: string): Promise<void> {
    await settleAttempt.run(this.options.redis, this.keysOf(username, ip), ['unused', 0]);
  }

  /**
   * Settles in the background, retrying while Redis refuses it (5 tries, 1 s apart), so an
   * attempt that was not a wrong password does not keep its slot because of a failover:
   * without it, 5 correct logins answered 503 would lock their owner out. A try that timed out
   * is not repeated: it may have been applied, and the limit wins over the owner's slot.
   */
  settleLater(outcome: 'succeeded' | 'unused', username: string, ip: string, tries = 5): void {
    const attempt = (left: number) => {
      this[outcome](username, ip).catch((error: unknown) => {
        // Giving a slot back twice would allow one guess more than the limit: only a settle
        // that certainly did not happen is sent again; a timed-out one may keep its slot.
        if (left > 1 && certainlyNotApplied(error)) {
          setTimeout(() => attempt(left - 1), 1000).unref();
        }
      });
    };
    attempt(tries);
  }
}
