import { join } from 'node:path';
import { LuaScript, type RedisClient } from '@redis-patterns/redis-core';
import { DomainError } from '@redis-patterns/service-kit';
import type { SessionKeys } from '../session/session-keys';

const recordFailure = LuaScript.fromFile<[string], [windowMs: number], [number, number]>(
  join(__dirname, 'record-failure-1.lua'),
);

export interface LoginLockoutOptions {
  redis: RedisClient;
  keys: SessionKeys;
  /** Failures of one (username, IP) pair before it is locked out. */
  maxFailures: number;
  /** Window of the count, and so the longest lockout. */
  windowSeconds: number;
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
 * Brute-force protection per (username, IP) in Redis, shared by every replica: after
 * `maxFailures` failures in the window the pair gets 429 until the window ends, while the same
 * user from another address (the real owner) can still log in.
 */
export class LoginLockout {
  constructor(private readonly options: LoginLockoutOptions) {}

  /** Throws 429 when the pair is locked out. Redis errors propagate (the caller fails closed). */
  async assertAllowed(username: string, ip: string): Promise<void> {
    const key = this.options.keys.loginFailures(username, ip);
    const results = await this.options.redis.multi().get(key).pttl(key).exec();
    if (!results) throw new Error('lockout check was aborted');
    const [[getError, failures], [ttlError, ttl]] = results;
    if (getError || ttlError) throw getError ?? ttlError;
    if (Number(failures ?? 0) >= this.options.maxFailures) throw lockedOut(Number(ttl));
  }

  /** Counts a failure; returns how many the pair has in the current window. */
  async recordFailure(username: string, ip: string): Promise<number> {
    const [failures] = await recordFailure.run(
      this.options.redis,
      [this.options.keys.loginFailures(username, ip)],
      [this.options.windowSeconds * 1000],
    );
    return failures;
  }

  /** A successful login forgets the pair's failures. */
  async reset(username: string, ip: string): Promise<void> {
    await this.options.redis.del(this.options.keys.loginFailures(username, ip));
  }
}
