import { join } from 'node:path';
import { LuaScript } from '@redis-patterns/redis-core';

/**
 * The typed Lua scripts of the cache, one per `.lua` file beside this one (each file's header
 * states its invariant and names the test that proves it). Imported by src and tests alike.
 */
type Script<K extends string[], A extends Array<string | number>, R> = LuaScript<K, A, R>;
const script = <K extends string[], A extends Array<string | number>, R>(
  file: string,
): Script<K, A, R> => LuaScript.fromFile<K, A, R>(join(__dirname, file));

/**
 * What `read-or-lease-3.lua` answers: 0 a fresh value; 1 a value due, with its refresh lease;
 * 2 a value due whose refresh another reader holds (serve it stale); 3 no value, the lease is
 * the caller's; 4 no value, another loader holds the lease.
 */
export type ReadReply = [0 | 1 | 2, string] | [3 | 4];

/** KEYS entry, lease, index; ARGV token, lease ms, now (as of, ms), index TTL ms. */
export const readOrLeaseScript = script<
  [string, string, string],
  [string, number, number, number],
  ReadReply
>('read-or-lease-3.lua');

/** KEYS entry, lease; ARGV token, encoded entry, TTL ms. 1 when it wrote (the caller held the lease). */
export const fillScript = script<[string, string], [string, string, number], 0 | 1>('fill-2.lua');

/** KEYS the group's index; deletes every entry it lists, their leases and itself. */
export const invalidateScript = script<[string], [], number>('invalidate-1.lua');

/** KEYS members, seq; ARGV channel, member ('' to probe), TTL ms, previous member, ping payload. */
export const heartbeatScript = script<
  [string, string],
  [string, string, number, string, string],
  number
>('member-heartbeat-2.lua');

/** KEYS members, seq; ARGV channel, eviction payload. The message number and the members. */
export const publishScript = script<[string, string], [string, string], [number, string[]]>(
  'publish-eviction-2.lua',
);

/** KEYS the eviction's ack set; ARGV ack channel, member, TTL ms, ack payload. */
export const ackScript = script<[string], [string, string, number, string], number>(
  'ack-eviction-1.lua',
);

/** KEYS members, the eviction's ack set; ARGV the members awaited. Those still awaited. */
export const unconfirmedScript = script<[string, string], string[], string[]>(
  'unconfirmed-members-2.lua',
);
