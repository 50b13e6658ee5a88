import { join } from 'node:path';
import { LuaScript } from '@redis-patterns/redis-core';

// The session store's Lua scripts with their KEYS, ARGV and reply types (each `.lua` header
// states the contract): the one declaration src and tests share.

export type SaveSessionArgs = [
  idleMs: number,
  maxMs: number,
  userId: string,
  username: string,
  ip: string,
  userAgent: string,
];

/** Creates or merges into a session; `expiresAt` 0 when it is past its absolute end. */
export const saveSession = LuaScript.fromFile<
  [session: string],
  SaveSessionArgs,
  [createdAt: number, expiresAt: number, now: number]
>(join(__dirname, 'save-session-1.lua'));

/** Adds a session to its user's index, the index living as long as its longest session. */
export const indexSession = LuaScript.fromFile<
  [userSessions: string],
  [expiresAt: number, sessionId: string],
  null
>(join(__dirname, 'index-session-1.lua'));

/**
 * The read on use: null (no such session), [0] (past its absolute end, now deleted) or
 * [1, reindex, ...fields].
 */
export type TouchSessionReply = null | [0] | [1, 0 | 1, ...string[]];

export const touchSession = LuaScript.fromFile<
  [session: string],
  [idleMs: number, slackMs: number],
  TouchSessionReply
>(join(__dirname, 'touch-session-1.lua'));

/** Deletes a session; its userId, or null when it did not exist. */
export const destroySession = LuaScript.fromFile<[session: string], [], string | null>(
  join(__dirname, 'destroy-session-1.lua'),
);
