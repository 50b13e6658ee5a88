--[[
  delete-player: removes one player from every sorted set of a board that may still hold them,
  in one script (atomic against concurrent submissions), and announces the change.

  Loaded with the key count of the caller, hence no count in the file name.
  KEYS[1]            the board's meta hash
  KEYS[2k], [2k+1]   sorted set k and its arrival hash (k = 1..n; one hash tag)
  ARGV[1] config fingerprint (cv)   ARGV[2] player id
  ARGV[3] changes channel           ARGV[4] board name (the message)

  Returns {0} (no index: rebuild), {-1} (config changed) or
  {1, epoch, seq, removed1, ..., removedn} with removed k = 1 when set k held the player.
  `seq` comes from the board's counter, so PostgreSQL orders the delete after every submission
  Redis ran before it.

  Proof: test/cluster-slots.test.ts "submits, reads, streams and deletes on boards owned by different masters"
]]
local state = redis.call('HMGET', KEYS[1], 'epoch', 'cv')
if not state[1] then return {0} end
if state[2] ~= ARGV[1] then return {-1} end
local BIG = 9007199254740992
local player = ARGV[2]
local n = (#KEYS - 1) / 2
local result = {1, tonumber(state[1]), 0}
local any = false
for k = 1, n do
  local set, hash = KEYS[2 * k], KEYS[2 * k + 1]
  -- `arrival`, or `arrival:subkey` on a subscore board (the subkey leads the member; one
-- written before -0 was normalised in submit-score.lua holds a '-').
  local value = redis.call('HGET', hash, player)
  local removed = 0
  if value then
    local arrival, key = string.match(value, '^(%d+):([%d%-]+)$')
    local tail = string.format('%016.0f', BIG - tonumber(arrival or value)) .. player
    removed = redis.call('ZREM', set, (key or '') .. tail)
    redis.call('HDEL', hash, player)
  end
  if removed == 1 then any = true end
  result[#result + 1] = removed
end
if any then
  result[3] = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return result
