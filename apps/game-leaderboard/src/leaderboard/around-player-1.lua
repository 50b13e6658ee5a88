--[[
  around-player: the window of up to 2 * radius + 1 entries around a player, read atomically so
  the player is always inside it. At the top or bottom edge the window is filled from the other
  side, so it holds min(2 * radius + 1, total) entries wherever the player stands.

  KEYS[1] board (sorted set)
  ARGV[1] player id
  ARGV[2] radius, >= 0

  Returns nil when the player is not on the board, else
  {rank0, total, start0, member1, score1, member2, score2, ...} (highest score first; 0-based).

  Invariant: start0 <= rank0 < start0 + window, 0 <= start0, start0 + window <= total.
]]
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return nil end
local total = redis.call('ZCARD', KEYS[1])
local radius = tonumber(ARGV[2])
local window = math.min(2 * radius + 1, total)
local start = math.max(0, math.min(rank - radius, total - window))
local result = {rank, total, start}
local entries = redis.call('ZREVRANGE', KEYS[1], start, start + window - 1, 'WITHSCORES')
for _, item in ipairs(entries) do result[#result + 1] = item end
return result
