--[[
  save-session-1: creates a login session, or merges identity fields into an existing one.

  Fields are written one by one into a hash, never as a whole blob, so a save cannot undo what
  concurrent requests wrote (lastSeenAt, requests). Time comes from the Redis server, one clock
  for every replica.

  KEYS[1]  the session hash
  ARGV[1]  idle timeout, ms
  ARGV[2]  absolute lifetime, ms (applied only when the session is created)
  ARGV[3]  userId   ARGV[4] username   ARGV[5] ip   ARGV[6] userAgent

  Returns  {createdAt, expiresAt, now} in ms; an error reply SESSION_USER_MISMATCH when the
           session belongs to another user; {0, 0, now} when it is past its absolute lifetime
           (it is deleted).

  Invariant: createdAt and expiresAt are written once; lastSeenAt never moves backwards; the
  TTL never exceeds min(idle, expiresAt - now), so Redis drops the session at expiresAt at the
  latest, whatever a cookie says.

  Proof: test/session-store.test.ts "refuses to merge another user into a session"
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local idle = tonumber(ARGV[1])

local existing = redis.call('HMGET', KEYS[1], 'userId', 'createdAt', 'expiresAt', 'lastSeenAt')
local createdAt = tonumber(existing[2])
local expiresAt = tonumber(existing[3])
if expiresAt == nil then
  createdAt = now
  expiresAt = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'createdAt', createdAt, 'expiresAt', expiresAt,
    'lastSeenAt', now, 'indexedAt', now, 'requests', 0)
elseif existing[1] ~= ARGV[3] then
  return redis.error_reply('SESSION_USER_MISMATCH')
elseif now >= expiresAt then
  redis.call('DEL', KEYS[1])
  return {0, 0, now}
elseif now > (tonumber(existing[4]) or 0) then
  redis.call('HSET', KEYS[1], 'lastSeenAt', now)
end

redis.call('HSET', KEYS[1], 'userId', ARGV[3], 'username', ARGV[4], 'ip', ARGV[5],
  'userAgent', ARGV[6])
redis.call('PEXPIRE', KEYS[1], math.min(idle, expiresAt - now))
return {createdAt, expiresAt, now}
