--[[
  Appends a chat message to its room's stream exactly once per (user, clientMsgId), numbering it
  with the room's next offset.

  KEYS[1] the room's stream            <prefix>:{room}:messages
  KEYS[2] the dedupe key of the send   <prefix>:{room}:sent:<user>:<clientMsgId>
  KEYS[3] the room's offset counter    <prefix>:{room}:offset
  KEYS[4] the room's epoch             <prefix>:{room}:epoch
  ARGV[1] approximate stream cap (XADD MAXLEN ~)
  ARGV[2] seconds the dedupe key is kept
  ARGV[3] user id   ARGV[4] user name   ARGV[5] text   ARGV[6] clientMsgId
  ARGV[7] a fresh epoch, taken only when the room has none
  ARGV[8] '1': create a missing numbering; '0' (an archive holds history): answer the error
          NONUMBERING instead, so that the caller restores it from the archive (init-numbering-2.lua)

  Returns {id, 0, offset, epoch} for a new message (id = the stream id XADD assigned), or
  {id, 1, offset, epoch} with the first append's id and offset when this clientMsgId was
  already stored.

  Invariants: while the dedupe key lives, one (user, clientMsgId) maps to exactly one stream
  entry (the check, the append and the record happen in one atomic script; every key shares the
  room's hash tag so it runs on one Cluster node). Within one epoch, offsets are 1, 2, 3, ...
  in stream order with no gap and no repeat (the counter and the append are one script), which
  is what lets a client tell exactly what it is missing. A room whose counter is gone (Redis
  restarted empty) gets a new epoch with its first append or read, so an old (epoch, offset)
  never matches the new numbering (a counter that exists without its epoch keeps counting under
  a new epoch).
  Proof: test/chat-scripts.test.ts "append-message-4.lua: offsets are gapless under 50 concurrent senders"

  A resend rewrites the dedupe key with its own value (TTL kept) so that it, too, is a write the
  caller's WAIT counts: WAIT is documented to cover the writes of its own connection, and a
  replica that holds this rewrite holds the first append, which came earlier in the replication
  stream. The resend may come over another connection than the first attempt (another replica
  of this service) after that attempt's WAIT timed out. Redis 7.0 happens to advance a
  connection's WAIT offset on reads too (measured), so there this only follows the contract.
]]
-- The numbering exists while its counter does; the same rule is in read-room-3.lua.
local epoch = redis.call('GET', KEYS[4])
if redis.call('EXISTS', KEYS[3]) == 0 and ARGV[8] == '0' then
  return redis.error_reply('NONUMBERING the room has no numbering in Redis')
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], 0)
  epoch = false
end
if not epoch then
  epoch = ARGV[7]
  redis.call('SET', KEYS[4], epoch)
end
local existing = redis.call('GET', KEYS[2])
if existing then
  redis.call('SET', KEYS[2], existing, 'KEEPTTL')
  local space = string.find(existing, ' ', 1, true)
  if space then
    return {string.sub(existing, 1, space - 1), 1, tonumber(string.sub(existing, space + 1)), epoch}
  end
  return {existing, 1, 0, epoch}
end
local offset = redis.call('INCR', KEYS[3])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
  'u', ARGV[3], 'n', ARGV[4], 't', ARGV[5], 'c', ARGV[6], 'o', offset)
redis.call('SET', KEYS[2], id .. ' ' .. offset, 'EX', ARGV[2])
return {id, 0, offset, epoch}
