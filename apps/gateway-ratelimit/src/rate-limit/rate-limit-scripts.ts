import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LuaScript, type RedisClient } from '@redis-patterns/redis-core';
import type { Limit } from './rate-limit-policy';

/** One limit of a decision. */
export interface LimitCall {
  key: string;
  limit: Limit;
  /** Cost units of this request (rate limits). */
  cost: number;
  /** The lease member (concurrency limits): unique per request. */
  member: string;
}

/** What one limit said. */
export interface LimitOutcome {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

/** A decision over every limit of a request: allowed only if all admit it. */
export interface Decision {
  allowed: boolean;
  limits: LimitOutcome[];
}

const COMMAND = 'gwDecideLimits';
/** The text of `rate-limit-decide.lua`. */
export const DECIDE_LUA = readFileSync(join(__dirname, 'rate-limit-decide.lua'), 'utf8');

/** `renew-lease-1.lua`: extends a held concurrency lease. */
export const renewLeaseScript = LuaScript.fromFile<[string], [number, string], number>(
  join(__dirname, 'renew-lease-1.lua'),
);

type DecideCommand = (numberOfKeys: number, ...args: (string | number)[]) => Promise<number[]>;

/** Parses the flat reply of `rate-limit-decide.lua`. */
export function toDecision(reply: readonly number[], count: number): Decision {
  const limits: LimitOutcome[] = [];
  for (let i = 0; i < count; i += 1) {
    const at = 1 + i * 4;
    limits.push({
      allowed: reply[at] === 1,
      remaining: Number(reply[at + 1]),
      resetMs: Number(reply[at + 2]),
      retryAfterMs: Number(reply[at + 3]),
    });
  }
  return { allowed: reply[0] === 1, limits };
}

/**
 * Decides every limit of one request in one script call (`rate-limit-decide.lua`: a variable
 * number of keys, so defined here rather than through redis-core's fixed-count `LuaScript`).
 */
export async function decideLimits(
  redis: RedisClient,
  calls: readonly LimitCall[],
): Promise<Decision> {
  const client = redis as unknown as Record<string, DecideCommand>;
  if (typeof client[COMMAND] !== 'function') redis.defineCommand(COMMAND, { lua: DECIDE_LUA });
  const args: (string | number)[] = calls.map((call) => call.key);
  for (const { limit, cost, member } of calls) {
    args.push(
      limit.algorithm,
      limit.limit,
      limit.windowMs,
      limit.burst,
      cost,
      limit.leaseMs,
      member,
    );
  }
  const reply = await client[COMMAND].call(redis, calls.length, ...args);
  return toDecision(reply, calls.length);
}
