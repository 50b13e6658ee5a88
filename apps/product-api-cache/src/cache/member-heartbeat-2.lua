--[[
  Registers or renews one member of the eviction registry, or probes the channel, and publishes
  the member's ping on the eviction channel (numbered like every message on it).

  KEYS[1] members   sorted set: member id -> registration expiry (Redis TIME, ms)
  KEYS[2] seq       counter numbering the messages of the eviction channel
  ARGV[1] channel   the eviction channel
  ARGV[2] member    id to register or renew; '' for a probe (publishes, registers nothing)
  ARGV[3] ttlMs     registration lifetime from now
  ARGV[4] previous  an earlier incarnation of this replica to remove; '' for none
  ARGV[5] payload   the ping, JSON

  Returns the sequence number of the ping.

  Invariant: a member is in the set, with a score in the future, only while its replica renews
  it; expiry is Redis' own clock, the same clock publish-eviction-2 and unconfirmed-members-2
  compare with, so the replicas' clocks never enter. Expired members are dropped here.

  Proof: test/eviction-registry.test.ts "stops waiting for a member as soon as its registration lapses (a crashed replica)"
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[4])
end
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
end
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], seq .. '|' .. ARGV[5])
return seq
