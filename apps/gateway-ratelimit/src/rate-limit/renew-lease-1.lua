--[[
  renew-lease-1.lua: extends a concurrency lease that is still held, on Redis' clock.

  KEYS[1]  the concurrency limit's sorted set of leases
  ARGV[1]  leaseMs: the lease's new lifetime from now
  ARGV[2]  the lease member

  Returns 1 when the lease was held and is extended, 0 when it had expired (nothing written).

  Invariant: a lease only lives on while its replica renews it, so a replica that dies (SIGKILL)
  frees its slots leaseMs after its last renewal (test/concurrency-leases.test.ts).

  Proof: test/concurrency-leases.test.ts "concurrency: a SIGKILLed replica leaks no slot beyond the lease"
]]
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local leaseMs = tonumber(ARGV[1])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score or tonumber(score) <= nowMs then return 0 end
redis.call('ZADD', KEYS[1], 'XX', nowMs + leaseMs, ARGV[2])
if redis.call('PTTL', KEYS[1]) < leaseMs then redis.call('PEXPIRE', KEYS[1], leaseMs) end
return 1
