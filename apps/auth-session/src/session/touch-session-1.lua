--[[
  touch-session-1: reads a session on use and keeps it alive: the idle TTL slides, lastSeenAt
  moves forward and the use counter grows, without rewriting the rest of the session.

  KEYS[1]  the session hash
  ARGV[1]  idle timeout, ms
  ARGV[2]  how stale the sessions_active index entry may get before it is refreshed, ms

  Returns  false when there is no such session (unknown, revoked or idle-expired);
           {0} when it was past its absolute lifetime (it is deleted now);
           {1, reindex, field1, value1, ...} with the fields after the touch, where reindex is
           1 when the caller should refresh the session's entry in the sessions_active index.

  Invariant: a session is never returned at or after its expiresAt; only lastSeenAt (never
  backwards), requests (+1), indexedAt and the TTL change, so concurrent touches lose nothing;
  the TTL never exceeds min(idle, expiresAt - now).

  Proof: test/session-store.test.ts "bounds the TTL by the idle time and by the absolute end, and never extends the end"
]]
-- One read of the three fields the touch needs, one write of those it moves (the hot path).
local state = redis.call('HMGET', KEYS[1], 'expiresAt', 'lastSeenAt', 'indexedAt')
local expiresAt = tonumber(state[1])
if expiresAt == nil then
  return false
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if now >= expiresAt then
  redis.call('DEL', KEYS[1])
  return {0}
end

local moved = {}
if now > (tonumber(state[2]) or 0) then
  moved[#moved + 1] = 'lastSeenAt'
  moved[#moved + 1] = now
end
local reindex = 0
if now - (tonumber(state[3]) or 0) >= tonumber(ARGV[2]) then
  moved[#moved + 1] = 'indexedAt'
  moved[#moved + 1] = now
  reindex = 1
end
if #moved > 0 then
  redis.call('HSET', KEYS[1], unpack(moved))
end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[1]), expiresAt - now))

local result = {1, reindex}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields do
  result[i + 2] = fields[i]
end
return result
