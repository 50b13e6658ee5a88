import { join } from 'node:path';
import { LuaScript } from '@redis-patterns/redis-core';

/**
 * `fence-next-1.lua`: the next fencing token of one resource on one master, at least floor + 1.
 * KEYS: the resource's fence counter (`LockKeys.fence`); ARGV: the floor. Returns the new counter.
 */
export const fenceNextScript = LuaScript.fromFile<[fence: string], [floor: number], number>(
  join(__dirname, 'fence-next-1.lua'),
);

/**
 * `fence-raise-1.lua`: raises one resource's fence counter on one master to at least a value.
 * KEYS: the resource's fence counter; ARGV: the value to reach. Returns the counter after the call.
 */
export const fenceRaiseScript = LuaScript.fromFile<[fence: string], [target: number], number>(
  join(__dirname, 'fence-raise-1.lua'),
);
