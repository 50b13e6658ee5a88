import { DomainError, unavailable } from '@redis-patterns/service-kit';
import type { RedisSessionStore } from '../session/redis-session-store';
import { newSessionId } from '../session/session-auth';
import type { User, UserRepository } from '../users/user-repository';
import { HashLimiterBusy, type HashLimiter } from './hash-limiter';
import { certainlyNotApplied, type LoginLockout } from './login-lockout';
import { hashPassword, verifyPassword, type ScryptParams } from './password-hash';

/** The label of `logins_total`. */
export type LoginResult = 'success' | 'invalid_credentials' | 'locked' | 'unavailable' | 'busy';

function hashingBusy(): DomainError {
  return unavailable('PASSWORD_HASHING_BUSY', 'Too many logins at once, try again shortly');
}

/** The lockout could not be checked or settled: 503, fail closed. */
function lockoutDown(cause: unknown): DomainError {
  const error = unavailable('LOCKOUT_UNAVAILABLE', 'Login is unavailable, try again shortly');
  // Logged with the 503, as the session store's are: a timeout and a failover reply differ.
  error.cause = cause;
  return error;
}

const MAX_USER_AGENT = 256;

export interface LoginFlowOptions {
  store: RedisSessionStore;
  lockout: LoginLockout;
  users: UserRepository;
  /** Cost of new password hashes. */
  scrypt: ScryptParams;
  /** A hash of a random password, verified for unknown users so they take as long as known ones. */
  dummyHash: string;
  logins: { inc(labels: { result: LoginResult }): void };
  /** `password_hashes_total`: one per scrypt actually run. */
  hashes: { inc(labels: { purpose: 'login' | 'register' }): void };
  /** Bounds the hashes running at once in this process. */
  hashLimiter: HashLimiter;
}

/** Where a request comes from: its client IP, and how long it has been in this process. */
export interface Arrival {
  ip: string;
  /** ms since the request arrived (counts against the hash queue's bound). */
  waitedMs: number;
}

export interface LoginAttempt extends Arrival {
  username: string;
  password: string;
  userAgent: string;
  /** The session id the request presented, if any: destroyed by the login (fixation). */
  presentedSessionId: string | undefined;
}

export interface LoggedIn {
  user: User;
  sessionId: string;
  expiresAt: number;
}

/**
 * Register and login: the lockout reserved before any hash, the hash in a bounded slot, the
 * lockout settled after it, then a fresh session. Routes only translate HTTP to these calls.
 */
export class LoginFlow {
  constructor(private readonly options: LoginFlowOptions) {}

  /** Hashes the password in a hash slot and creates the user (409 when the name is taken). */
  async register(username: string, password: string, arrival: Arrival): Promise<User> {
    const { hashLimiter, hashes, scrypt } = this.options;
    const hash = await hashLimiter
      .run(
        () => {
          hashes.inc({ purpose: 'register' });
          return hashPassword(password, scrypt);
        },
        arrival.waitedMs,
        arrival.ip,
      )
      .catch((error: unknown) => {
        throw error instanceof HashLimiterBusy ? hashingBusy() : error;
      });
    return this.options.users.create(username, hash);
  }

  /** A new session for the right password; 401, 429 or 503 otherwise (see the README). */
  async login(attempt: LoginAttempt): Promise<LoggedIn> {
    const { store, logins } = this.options;
    const name = attempt.username.toLowerCase();
    // No hash slot to be had: refused before the reservation, so under a flood such a login
    // costs no Redis round trip (two, with the slot given back), and the event loop reaches
    // the requests behind it, a real user's among them, that much sooner.
    if (this.options.hashLimiter.wouldRefuse(attempt.waitedMs, attempt.ip)) {
      logins.inc({ result: 'busy' });
      throw hashingBusy();
    }
    await this.reserve(name, attempt.ip);
    const user = await this.verify(name, attempt);
    await this.options.lockout.succeeded(name, attempt.ip).catch((error: unknown) => {
      // The right password must not keep its slot because Redis was away; sent again only
      // when it certainly did not happen (it gives a slot back, which must not happen twice).
      if (certainlyNotApplied(error))
        this.options.lockout.settleLater('succeeded', name, attempt.ip);
      throw lockoutDown(error);
    });
    // Fixation: whatever session id the client came with is destroyed; the login gets a
    // fresh one, never an id the client chose.
    if (attempt.presentedSessionId !== undefined) await store.remove(attempt.presentedSessionId);
    const sessionId = newSessionId();
    const { expiresAt } = await store.save(sessionId, {
      userId: user.id,
      username: user.username,
      ip: attempt.ip,
      userAgent: attempt.userAgent.slice(0, MAX_USER_AGENT),
    });
    logins.inc({ result: 'success' });
    return { user: { id: user.id, username: user.username }, sessionId, expiresAt };
  }

  /** The attempt is counted before any hash: a refused one costs one Redis call, no scrypt. */
  private async reserve(name: string, ip: string): Promise<void> {
    try {
      await this.options.lockout.reserve(name, ip);
    } catch (error) {
      if (error instanceof DomainError) {
        this.options.logins.inc({ result: 'locked' });
        throw error;
      }
      // Nothing is given back: a timed-out reservation may have been applied, and giving back
      // one that was not would free another attempt's slot (an extra guess, seen under a
      // 500-login flood on a loaded machine). It expires with the window.
      this.options.logins.inc({ result: 'unavailable' });
      throw lockoutDown(error);
    }
  }

  /** The user whose password this is, or 401 (the reserved slot then stays: the failure's count). */
  private async verify(name: string, attempt: LoginAttempt): Promise<User> {
    const { users, hashes, hashLimiter, logins, lockout, dummyHash } = this.options;
    let evaluated = false;
    let found: Awaited<ReturnType<UserRepository['findByUsername']>>;
    let valid: boolean;
    try {
      // The user lookup runs inside the hash slot too, so a flood cannot queue on the pool.
      [found, valid] = await hashLimiter.run(
        async () => {
          const user = await users.findByUsername(attempt.username);
          evaluated = true;
          hashes.inc({ purpose: 'login' });
          // Unknown users cost one scrypt too, so timing does not tell which names exist.
          return [user, await verifyPassword(attempt.password, user?.passwordHash ?? dummyHash)];
        },
        attempt.waitedMs,
        attempt.ip,
      );
    } catch (error) {
      // No guess was evaluated: give the slot back (in the background, retried).
      if (!evaluated) lockout.settleLater('unused', name, attempt.ip);
      if (error instanceof HashLimiterBusy) {
        logins.inc({ result: 'busy' });
        throw hashingBusy();
      }
      throw error;
    }
    if (!found || !valid) {
      logins.inc({ result: 'invalid_credentials' });
      throw new DomainError(401, 'INVALID_CREDENTIALS', 'Invalid username or password');
    }
    return found;
  }
}
