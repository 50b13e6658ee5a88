--[[
  Writes a loaded value into the cache, but only for the current lease holder.

  KEYS[1] entry    the cache entry
  KEYS[2] lease    "<entry>:lease"
  ARGV[1] token    the token the caller got from read-or-lease-3
  ARGV[2] payload  "<softExpiresAtMs>|<status>|<etag>|<body>"
  ARGV[3] ttlMs    hard lifetime of the entry (soft TTL + stale grace)

  Returns 1 when written, 0 when the lease is gone or belongs to someone else.

  Invariant (no stale set): an invalidation deletes the lease together with the entry, so a
  reader that loaded its row before a write committed finds no lease (or a newer reader's) and
  cannot write the old row back.

  Proof: test/stale-set.test.ts "the Lua contract: only the current lease holder fills, and an invalidation revokes leases"
]]
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
