--[[
  board-ranks: the rank and score of each of a list of players (one player's standing, or a
  friends board), with the board's meta check. O(log N) per player: the arrival hash gives the
  member, ZREVRANK its rank.

  KEYS[1] the board's meta hash    KEYS[2] the sorted set    KEYS[3] its arrival hash
  ARGV[1] config fingerprint (cv)  ARGV[2..] player ids

  Returns {0} (no index: rebuild), {-1} (config changed) or
  {1, total, rank0 or -1, score or false, member or false, ...} in the order of ARGV[2..].

  Proof: test/reads.test.ts "ranks a friends list best first and lists unknown ids apart"
]]
local state = redis.call('HMGET', KEYS[1], 'epoch', 'cv')
if not state[1] then return {0} end
if state[2] ~= ARGV[1] then return {-1} end
local BIG = 9007199254740992
local result = {1, redis.call('ZCARD', KEYS[2])}
for i = 2, #ARGV do
  -- `arrival`, or `arrival:subkey` on a subscore board (the subkey leads the member; one
-- written before -0 was normalised in submit-score.lua holds a '-').
  local value = redis.call('HGET', KEYS[3], ARGV[i])
  local member = nil
  if value then
    local arrival, key = string.match(value, '^(%d+):([%d%-]+)$')
    member = (key or '') .. string.format('%016.0f', BIG - tonumber(arrival or value)) .. ARGV[i]
  end
  local rank = member and redis.call('ZREVRANK', KEYS[2], member)
  if rank then
    result[#result + 1] = rank
    result[#result + 1] = redis.call('ZSCORE', KEYS[2], member)
    result[#result + 1] = member
  else
    result[#result + 1] = -1
    result[#result + 1] = false
    result[#result + 1] = false
  end
end
return result
