--[[
  Restores a room's numbering that Redis lost, from the archive: only if it is still missing.

  KEYS[1] the room's offset counter   KEYS[2] the room's epoch
  ARGV[1] the archive's newest offset of the room (0 when it has none)
  ARGV[2] the archive's epoch of the room, or a fresh one when it has none

  Returns {epoch, offset}: the numbering in force afterwards.

  Invariant: a numbering that exists is never overwritten (replicas that restore at once agree:
  the first wins, the others read it), so offsets never repeat within an epoch; and with every
  acknowledged message archived before its ack, the archive's newest offset is at least the
  newest one any client was told, so the restored counter continues after it.
  Proof: test/archive.test.ts "after Redis restarted empty the epoch is kept, offsets continue, and history is read from PostgreSQL"
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], ARGV[2])
end
return {redis.call('GET', KEYS[2]), tonumber(redis.call('GET', KEYS[1]))}
