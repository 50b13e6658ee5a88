--[[
  Adds (or refreshes) and removes presence entries of one room, drops expired ones, and returns
  the live entries.

  KEYS[1] the room's presence sorted set  <prefix>:{room}:presence
          member = <replicaId>|<userId>|<username>, score = expiry time in ms (Redis clock)
  ARGV[1] entry lifetime in ms
  ARGV[2] n, the number of members to add or refresh
  ARGV[3 .. 2+n] members to add or refresh; ARGV[3+n ..] members to remove

  Returns the members whose expiry is still in the future.

  Invariant: an entry not refreshed within its lifetime is never returned, whatever happened to
  the replica that wrote it; expiry uses the Redis clock, so replica clocks do not matter. The
  key itself expires with its newest entry, so an abandoned room leaves nothing behind.

  Proof: test/chat-scripts.test.ts "keeps a user present while any replica still holds a tab of theirs"
]]
local ttl = tonumber(ARGV[1])
local adds = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 3, 2 + adds do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
for i = 3 + adds, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
if adds > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
