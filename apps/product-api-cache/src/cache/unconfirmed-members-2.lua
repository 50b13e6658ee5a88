--[[
  Which of the members an eviction waits for are still registered and have not acknowledged.

  KEYS[1] members   sorted set: member id -> registration expiry (Redis TIME, ms)
  KEYS[2] acks      set of the members that acknowledged the eviction
  ARGV[...]         the member ids the writer still waits for

  Returns the subset still registered (expiry in the future, by Redis' clock) and not in acks.

  Invariant: a member that left (it removed itself, re-registered under a new id, or expired)
  no longer serves its L1 tier, so the writer need not wait for it.

  Proof: test/eviction-registry.test.ts "waits for a registered member that never acknowledges, then reports it"
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local waiting = {}
for _, member in ipairs(ARGV) do
  local expiry = redis.call('ZSCORE', KEYS[1], member)
  if expiry and tonumber(expiry) > now and redis.call('SISMEMBER', KEYS[2], member) == 0 then
    waiting[#waiting + 1] = member
  end
end
return waiting
