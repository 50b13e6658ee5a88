--[[
  fence-raise-1: raises one resource's fence counter on one Redlock master to at least a value.

  KEYS[1]  the resource's fence counter, e.g. inv:{sku1}:fence
  ARGV[1]  the value the counter must reach

  Returns  the counter after the call (integer).

  Invariant: the counter never decreases. Writing the token a quorum agreed on back to a quorum
  (the second phase of issuing a token) is what makes any later quorum's fence-next-1 answer higher.

  Proof: test/fences-never-go-backwards.test.ts "heals a fence counter that fell behind PostgreSQL"
]]
local target = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < target then
  redis.call('SET', KEYS[1], target)
  return target
end
return current
