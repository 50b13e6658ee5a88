--[[
  fence-next-1: the next fencing token of one resource on one Redlock master.

  KEYS[1]  the resource's fence counter, e.g. inv:{sku1}:fence
  ARGV[1]  floor: the answer is at least floor + 1 (0 when nothing is known)

  Returns  the new counter value (integer >= 1).

  Invariant: on one master, every call returns a value strictly greater than every value this
  master returned or stored before (INCR is atomic; the floor only ever raises it). The caller
  takes the highest answer of a quorum and writes it back with fence-raise-1, so any later
  quorum overlaps and answers higher still.

  Proof: test/fences-never-go-backwards.test.ts "fences never go backwards: after every master is wiped"
  Proof: test/fencing.test.ts "a holder paused past its TTL loses to the next holder, and the fence refuses its write"
]]
local floor = tonumber(ARGV[1])
local value = redis.call('INCR', KEYS[1])
if value <= floor then
  value = floor + 1
  redis.call('SET', KEYS[1], value)
end
return value
