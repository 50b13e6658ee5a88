--[[
  load-index: writes one batch of a board's entries from PostgreSQL into a sorted set and its
  arrival hash, while the rebuild lock is still the caller's (a rebuilder that lost its lock
  must not write an older snapshot over a newer one).

  KEYS[1] the board's rebuild lock    KEYS[2] the sorted set    KEYS[3] its arrival hash
  ARGV[1] the caller's lock token     ARGV[2] 1 to empty the set and hash first (first batch)
  ARGV[3] TTL in ms of set and hash, 0 for none     ARGV[4] lock TTL in ms (renewed)
  ARGV[5..] quadruples: sorted-set score, member, player id, arrival-hash value (the member
  and the value as score-encoding.ts builds them, the same as submit-score.lua's)

  An empty batch (no quadruples, ARGV[2] 0, ARGV[3] 0) writes nothing and only renews the lock:
  the rebuild's heartbeat while PostgreSQL sorts and reads.

  Returns 1 when written, 0 when the lock is not the caller's (nothing written).
  Invariant: nothing is written without the lock (proof: rebuild.test.ts).

  Proof: test/rebuild.test.ts "rebuilds each board from PostgreSQL before answering"
  Proof: test/rebuild.test.ts "ranks identical once rebuilt"
  Proof: test/rebuild.test.ts "a rebuild whose PostgreSQL read outlasts its lock's lifetime keeps the lock and completes once"
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then redis.call('DEL', KEYS[2], KEYS[3]) end
for i = 5, #ARGV, 4 do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[3], ARGV[i + 2], ARGV[i + 3])
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
