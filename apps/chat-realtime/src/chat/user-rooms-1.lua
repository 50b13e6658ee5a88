--[[
  Admits a user to one more room, within a cap over all the user's sockets on every replica, and
  refreshes the rooms the caller's replica holds them in.

  KEYS[1] the user's rooms   <prefix>:{<userId>}:user:rooms   sorted set, member = room,
          score = expiry in ms (Redis clock)
  ARGV[1] most rooms per user   ARGV[2] entry lifetime in ms
  ARGV[3] the room to join, or '' to only refresh   ARGV[4 ..] rooms to refresh

  Returns 1 when the room is admitted (or already held, or nothing to join), 0 when the user
  already holds ARGV[1] other live rooms (nothing added).

  Invariant: a join never takes a user past ARGV[1] live rooms; an entry no replica refreshes
  within its lifetime stops counting (a crashed replica's users are not locked out forever).
  Proof: test/chat-scripts.test.ts "user-rooms-1.lua: concurrent joins of one user across replicas stop at the cap"
]]
local max = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
local admitted = 1
local room = ARGV[3]
if room ~= '' then
  if redis.call('ZSCORE', KEYS[1], room) or redis.call('ZCARD', KEYS[1]) < max then
    redis.call('ZADD', KEYS[1], now + ttl, room)
  else
    admitted = 0
  end
end
if redis.call('ZCARD', KEYS[1]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return admitted
