import { join } from 'node:path';
import { LuaScript } from '@redis-patterns/redis-core';

/**
 * Every Lua script of chat-realtime, typed once (keys, arguments, reply) and imported by the
 * stores and the tests alike. Each `.lua` file beside this one states its invariant and names
 * the test that proves it (`Proof:` in its header).
 */

/** A stream entry as Redis answers it: the id and the flat field/value list. */
export type StreamEntry = [id: string, fields: string[]];

/** append-message-4.lua: {id, duplicate (1: this clientMsgId was stored before), offset, epoch}. */
export type AppendReply = [id: string, duplicate: 0 | 1, offset: number, epoch: string];

/** read-room-3.lua's reason: 'ok' when it recovered, else why it did not. */
export type ReadRoomWhy = 'ok' | 'fresh' | 'epoch' | 'ahead' | 'many' | 'missing';

/** read-room-3.lua: {epoch, newest offset, recovered (1/0), entries newest first, why}. */
export type ReadRoomReply = [
  epoch: string,
  offset: number,
  recovered: 0 | 1,
  entries: StreamEntry[],
  why: ReadRoomWhy,
];

export const appendMessage = LuaScript.fromFile<
  [stream: string, sent: string, offset: string, epoch: string],
  [
    maxLen: number,
    dedupeTtlSeconds: number,
    userId: string,
    username: string,
    text: string,
    clientMsgId: string,
    freshEpoch: string,
    createNumbering: '0' | '1',
  ],
  AppendReply
>(join(__dirname, 'append-message-4.lua'));

export const readRoom = LuaScript.fromFile<
  [stream: string, offset: string, epoch: string],
  [
    freshEpoch: string,
    clientEpoch: string,
    clientOffset: number,
    recoveryLimit: number,
    historyLimit: number,
    createNumbering: '0' | '1',
  ],
  ReadRoomReply
>(join(__dirname, 'read-room-3.lua'));

/** init-numbering-2.lua: {epoch, offset}, the numbering in force afterwards. */
export const initNumbering = LuaScript.fromFile<
  [offset: string, epoch: string],
  [archiveOffset: number, archiveEpoch: string],
  [epoch: string, offset: number]
>(join(__dirname, 'init-numbering-2.lua'));

/** mark-read-2.lua: {cursor after the call, moved (1 when it advanced)}. */
export const markRead = LuaScript.fromFile<
  [cursors: string, offset: string],
  [userId: string, offset: number],
  [cursor: number, moved: 0 | 1]
>(join(__dirname, 'mark-read-2.lua'));

/**
 * presence-update-1.lua: ARGV = lifetime ms, n, n members to add or refresh, then the members
 * to remove; answers the members still alive.
 */
export const presenceUpdate = LuaScript.fromFile<
  [presence: string],
  Array<string | number>,
  string[]
>(join(__dirname, 'presence-update-1.lua'));

/** user-rate-1.lua: {1, 0} when taken, {0, retryAfterMs} when over the limit. */
export const userRate = LuaScript.fromFile<
  [log: string],
  [max: number, windowMs: number, token: string],
  [taken: 0 | 1, retryAfterMs: number]
>(join(__dirname, 'user-rate-1.lua'));

/**
 * user-rooms-1.lua: ARGV = most rooms, lifetime ms, the room to join ('' to only refresh), then
 * the rooms to refresh; answers 1 when admitted, 0 when the user already holds the most.
 */
export const userRooms = LuaScript.fromFile<[rooms: string], Array<string | number>, 0 | 1>(
  join(__dirname, 'user-rooms-1.lua'),
);
