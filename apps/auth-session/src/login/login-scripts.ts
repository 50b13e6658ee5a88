import { join } from 'node:path';
import { LuaScript } from '@redis-patterns/redis-core';

// The lockout's Lua scripts with their KEYS, ARGV and reply types (each `.lua` header states
// the contract): the one declaration src and tests share. KEYS of both: the (username, IP)
// count, the username's count, the known-client marker, all in the `{username}` slot.

export type AttemptKeys = [pairAttempts: string, userAttempts: string, knownClient: string];

/** Takes one attempt slot of the pair and of the user: [1, 0], or [0, ms until its window ends] (429). */
export const reserveAttempt = LuaScript.fromFile<
  AttemptKeys,
  [windowMs: number, perClient: number, perUser: number],
  [reserved: 0 | 1, ttlMs: number]
>(join(__dirname, 'reserve-attempt-3.lua'));

export type SettleOutcome = 'success' | 'unused';

/** Settles a reserved attempt: a success clears the pair, an unused one gives both slots back. */
export const settleAttempt = LuaScript.fromFile<
  AttemptKeys,
  [outcome: SettleOutcome, knownMs: number],
  1
>(join(__dirname, 'settle-attempt-3.lua'));
