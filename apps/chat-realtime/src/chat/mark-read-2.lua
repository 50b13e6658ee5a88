--[[
  Moves a user's read cursor (or delivery cursor) in a room forward, never back, and never past
  the room's newest offset.

  KEYS[1] the room's read cursors   <prefix>:{room}:reads   hash, field = user id, value = offset
          (or its delivery cursors  <prefix>:{room}:delivered, the same shape)
  KEYS[2] the room's offset counter <prefix>:{room}:offset
  ARGV[1] user id   ARGV[2] the offset the user has read up to

  Returns {cursor, moved}: the cursor after the call; moved = 1 when it advanced.

  Invariant: whatever order a user's tabs on several replicas report in, the cursor only grows
  and never claims a message the room does not have: compare and set in one atomic script,
  both keys under the room's hash tag.
  Proof: test/unread-and-receipts.test.ts "mark-read-2.lua: concurrent reports from three connections leave the highest, clamped"
]]
local top = tonumber(redis.call('GET', KEYS[2]) or '0')
local wanted = math.min(tonumber(ARGV[2]), top)
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if wanted > current then
  redis.call('HSET', KEYS[1], ARGV[1], wanted)
  return {wanted, 1}
end
return {current, 0}
