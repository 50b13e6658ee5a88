import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LuaScript } from '@redis-patterns/redis-core';

/**
 * Every Lua script of the service, typed once (keys, arguments, reply), imported by the store,
 * the rebuilder and the tests alike. Each `.lua` file beside this one states its invariant and
 * names the test that proves it (`Proof:` in its header).
 */

/** What a script found: 1 done, 0 no index (rebuild), -1 stale configuration, 2 refused. */
export type Status = 0 | -1 | 1 | 2;
export type ScriptArgs = (string | number)[];

/** submit-score.lua: status, epoch, seq, rank, then score, arrival, subscore per sorted set. */
export type SubmitReply = [Status, ...Array<number | string | false>];
/** board-page-2.lua: status, total, then member, score pairs. */
export type PageReply = [Status, number?, ...string[]];
/** board-ranks-3.lua: status, total, then rank0, stored score, member per player. */
export type RanksReply = [Status, number?, ...Array<number | string | false>];
/** around-player-3.lua: status, rank0, total, start0, then member, score pairs. */
export type AroundReply = [Status, number?, number?, number?, ...string[]];
/** delete-player.lua: status, epoch, seq, then 1/0 per sorted set (removed or not). */
export type DeleteReply = [Status, number?, number?, ...number[]];

const scriptText = (file: string) => readFileSync(join(__dirname, file), 'utf8');
const SUBMIT_LUA = scriptText('submit-score.lua');
const DELETE_LUA = scriptText('delete-player.lua');

/** Scripts taking 1 + 2n keys (n sorted sets with their arrival hashes), one LuaScript per key count. */
const variadic = new Map<string, LuaScript<string[], ScriptArgs, unknown>>();
function variadicScript<Result>(name: string, lua: string, keys: number) {
  const id = `${name}${keys}`;
  let script = variadic.get(id);
  if (!script) {
    script = new LuaScript<string[], ScriptArgs, unknown>(id, keys, lua);
    variadic.set(id, script);
  }
  return script as LuaScript<string[], ScriptArgs, Result>;
}

/** submit-score.lua over `keys` keys: the meta hash, then each sorted set and its arrival hash. */
export const submitScore = (keys: number) =>
  variadicScript<SubmitReply>('submitScore', SUBMIT_LUA, keys);

/** delete-player.lua over `keys` keys: the meta hash, then each sorted set and its arrival hash. */
export const deletePlayer = (keys: number) =>
  variadicScript<DeleteReply>('deletePlayer', DELETE_LUA, keys);

export const boardPage = LuaScript.fromFile<[string, string], ScriptArgs, PageReply>(
  join(__dirname, 'board-page-2.lua'),
);
export const boardRanks = LuaScript.fromFile<[string, string, string], ScriptArgs, RanksReply>(
  join(__dirname, 'board-ranks-3.lua'),
);
export const aroundPlayer = LuaScript.fromFile<[string, string, string], ScriptArgs, AroundReply>(
  join(__dirname, 'around-player-3.lua'),
);
export const configureBoard = LuaScript.fromFile<[string], ScriptArgs, [Status, string?]>(
  join(__dirname, 'configure-board-1.lua'),
);

/** load-index-3.lua: one batch of a rebuild, under the rebuild lock (0: the lock was lost). */
export const loadIndex = LuaScript.fromFile<[string, string, string], ScriptArgs, 0 | 1>(
  join(__dirname, 'load-index-3.lua'),
);
/** activate-index-2.lua: writes the meta hash last, under the rebuild lock (0: the lock was lost). */
export const activateIndex = LuaScript.fromFile<[string, string], ScriptArgs, 0 | 1>(
  join(__dirname, 'activate-index-2.lua'),
);
/** Deletes the rebuild lock only while this replica's token holds it. */
export const releaseRebuildLock = new LuaScript<[string], [string], number>(
  'releaseRebuildLock',
  1,
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
);
