import { join } from 'node:path';
import { LuaScript, type RedisClient } from '@redis-patterns/redis-core';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';

/** [allowed 1|0, remaining, retryAfterMs, resetMs]; see the header of gcra-1.lua. */
export type GcraReply = [number, number, number, number];

export const gcraScript = LuaScript.fromFile<[string], [number, number], GcraReply>(
  join(__dirname, 'gcra-1.lua'),
);

/** Runs one GCRA decision for the Redis key `key`. */
export function gcraDecide(
  redis: RedisClient,
  key: string,
  limit: number,
  windowMs: number,
): Promise<GcraReply> {
  return gcraScript.run(redis, [key], [limit, windowMs]);
}

/**
 * The plugin's view of a GCRA decision: `current` past `max` means refused, and `ttl` is the
 * wait until a retry passes (refused) or until the full burst is back (allowed), so the
 * plugin's `Retry-After` and reset values are honest.
 */
export function toStoreResult(reply: GcraReply, max: number): { current: number; ttl: number } {
  const [allowed, remaining, retryAfterMs, resetMs] = reply;
  return allowed === 1
    ? { current: max - remaining, ttl: resetMs }
    : { current: max + 1, ttl: retryAfterMs };
}

/**
 * A @fastify/rate-limit store class running GCRA in Redis; keys are `prefix` + the plugin's key.
 * The plugin instantiates it (`new Store(options)`), so the client is bound here.
 */
export function gcraStore(redis: RedisClient, prefix: string): FastifyRateLimitStoreCtor {
  return class GcraStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
      max: number,
    ): void {
      gcraDecide(redis, prefix + key, max, timeWindow).then(
        (reply) => callback(null, toStoreResult(reply, max)),
        (error: Error) => callback(error),
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
