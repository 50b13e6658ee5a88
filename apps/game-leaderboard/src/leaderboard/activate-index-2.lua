--[[
  activate-index: ends a rebuild by writing the board's meta hash, which makes the index
  readable and writable again, if the rebuild lock is still the caller's; releases the lock.

  KEYS[1] the board's rebuild lock    KEYS[2] the board's meta hash
  ARGV[1] lock token   ARGV[2] epoch   ARGV[3] cv   ARGV[4] cfg   ARGV[5] seq   ARGV[6] scored

  Returns 1 when activated, 0 when the lock was lost (nothing written).

  Proof: test/rebuild.test.ts "rebuilds each board from PostgreSQL before answering"
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'epoch', ARGV[2], 'cv', ARGV[3], 'cfg', ARGV[4], 'seq', ARGV[5], 'scored', ARGV[6])
redis.call('DEL', KEYS[1])
return 1
