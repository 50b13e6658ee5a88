--[[
  Reads a room for a join: either every message after the client's offset (recovery), or the
  newest ones (a fresh join, or when recovery is impossible), with the room's epoch and offset.

  KEYS[1] the room's stream   KEYS[2] the room's offset counter   KEYS[3] the room's epoch
  ARGV[1] a fresh epoch, taken only when the room has none (same rule as append-message-4.lua)
  ARGV[2] the client's epoch, or '' for a fresh join
  ARGV[3] the client's offset: it holds every message of the room up to this one
  ARGV[4] the most messages a recovery returns   ARGV[5] messages a fresh join returns
  ARGV[6] '1': create a missing numbering; '0': answer the error NONUMBERING (see
          append-message-4.lua)

  Returns {epoch, offset, recovered, entries, why}: offset = the room's newest offset;
  recovered = 1 and entries = every message with an offset above ARGV[3], newest first; or
  recovered = 0 and entries = the newest ARGV[5] messages, newest first, with why = 'fresh'
  (ARGV[2] is ''), 'epoch' (not the room's epoch), 'ahead' (ARGV[3] is above the room's
  offset) or 'many' (more than ARGV[4] were missed); or recovered = 0, why = 'missing' and
  entries = the part of the missed messages Redis still holds, newest first (the stream cap
  trimmed the others, or Redis lost them): an archive may hold the rest.

  Invariant: recovered = 1 only with every missed message, never part of them: offsets are
  gapless within an epoch, so the newest (offset - ARGV[3]) entries are exactly the missed ones
  when the oldest of them carries offset ARGV[3] + 1; all of it is read in one atomic script.
  Proof: test/chat-scripts.test.ts "read-room-3.lua: recovers every missed message or says recovered false"
]]
local epoch = redis.call('GET', KEYS[3])
if redis.call('EXISTS', KEYS[2]) == 0 and ARGV[6] == '0' then
  return redis.error_reply('NONUMBERING the room has no numbering in Redis')
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], 0)
  epoch = false
end
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[3], epoch)
end
local top = tonumber(redis.call('GET', KEYS[2]))
local from = tonumber(ARGV[3])
local why = 'fresh'
if ARGV[2] ~= '' and ARGV[2] ~= epoch then
  why = 'epoch'
elseif ARGV[2] ~= '' and from > top then
  why = 'ahead'
elseif ARGV[2] ~= '' and top - from > tonumber(ARGV[4]) then
  why = 'many'
elseif ARGV[2] ~= '' then
  if top == from then
    return {epoch, top, 1, {}, 'ok'}
  end
  local missed = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', top - from)
  if #missed == top - from then
    local oldest = missed[#missed][2]
    for i = 1, #oldest, 2 do
      if oldest[i] == 'o' and tonumber(oldest[i + 1]) == from + 1 then
        return {epoch, top, 1, missed, 'ok'}
      end
    end
  end
  -- Only entries of this numbering: after a restore from the archive, an older stream entry
  -- may carry an offset at or below the client's.
  local held = {}
  for _, entry in ipairs(missed) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'o' and tonumber(fields[i + 1]) > from then
        held[#held + 1] = entry
      end
    end
  end
  return {epoch, top, 0, held, 'missing'}
end
return {epoch, top, 0, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[5]), why}
