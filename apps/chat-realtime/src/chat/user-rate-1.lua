--[[
  Takes one message from a user's budget: at most ARGV[1] in any ARGV[2] ms, over all the
  user's sockets on every replica (a sliding log on the Redis clock).

  KEYS[1] the user's log   <prefix>:{<userId>}:user:rate   sorted set, member = token, score = ms
  ARGV[1] max events per window   ARGV[2] window in ms   ARGV[3] a token unique to this call

  Returns {1, 0} when taken, or {0, retryAfterMs} when over the limit (nothing recorded).

  Invariant: however many sockets and replicas send at once, no window of ARGV[2] ms holds more
  than ARGV[1] taken events of one user: the count and the record are one atomic script on the
  Redis clock, so replica clocks and races between replicas do not matter.
  Proof: test/chat-scripts.test.ts "user-rate-1.lua: 60 concurrent takes of one user over 3 connections take exactly max"
]]
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(oldest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
