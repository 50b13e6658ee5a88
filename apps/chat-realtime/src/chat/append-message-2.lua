--[[
  Appends a chat message to its room's stream exactly once per (user, clientMsgId).

  KEYS[1] the room's stream            <prefix>:{room}:messages
  KEYS[2] the dedupe key of the send   <prefix>:{room}:sent:<user>:<clientMsgId>
  ARGV[1] approximate stream cap (XADD MAXLEN ~)
  ARGV[2] seconds the dedupe key is kept
  ARGV[3] user id   ARGV[4] user name   ARGV[5] text   ARGV[6] clientMsgId

  Returns {id, 0} for a new message (id = the stream id XADD assigned), or {id, 1} with the id
  of the first append when this clientMsgId was already stored.

  Invariant: while the dedupe key lives, one (user, clientMsgId) maps to exactly one stream entry:
  the check, the append and the record happen in one atomic script, and both keys share the
  room's hash tag so the script runs on one Cluster node.
]]
local existing = redis.call('GET', KEYS[2])
if existing then
  return {existing, 1}
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
  'u', ARGV[3], 'n', ARGV[4], 't', ARGV[5], 'c', ARGV[6])
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return {id, 0}
