--[[
  Invalidates a whole group: every entry and every lease listed in its index.

  KEYS[1] index    set of the group's entry names; all of them carry the index's {hash tag}, so
                   they live in its Cluster slot even though they are not passed as KEYS
  Returns the number of entries dropped.

  Invariant: after it returns, no entry of the group is readable and no lease of the group can
  fill (fill-2 checks the lease), so the next read of any entry loads from PostgreSQL.

  Proof: test/stale-set.test.ts "a reader that loaded the old row before a write cannot put it back after the invalidation"
]]
local entries = redis.call('SMEMBERS', KEYS[1])
for _, entry in ipairs(entries) do
  redis.call('DEL', entry, entry .. ':lease')
end
redis.call('DEL', KEYS[1])
return #entries
