--[[
  around-player: the window of up to 2 * radius + 1 entries around a player, read atomically so
  the player is always inside it. At the top or bottom edge the window is filled from the other
  side, so it holds min(2 * radius + 1, total) entries wherever the player stands.

  KEYS[1] the board's meta hash    KEYS[2] the sorted set    KEYS[3] its arrival hash
  ARGV[1] config fingerprint (cv)  ARGV[2] player id          ARGV[3] radius, >= 0

  Returns {0} (no index: rebuild), {-1} (config changed), {2} when the player is not on the
  board, else {1, rank0, total, start0, member1, score1, member2, score2, ...} (best first).

  Invariant: start0 <= rank0 < start0 + window, 0 <= start0, start0 + window <= total.

  Proof: test/reads.test.ts "around-me fills from the other side at rank 1 and at the last rank"
]]
local state = redis.call('HMGET', KEYS[1], 'epoch', 'cv')
if not state[1] then return {0} end
if state[2] ~= ARGV[1] then return {-1} end
-- `arrival`, or `arrival:subkey` on a subscore board (the subkey leads the member; one
-- written before -0 was normalised in submit-score.lua holds a '-').
local value = redis.call('HGET', KEYS[3], ARGV[2])
if not value then return {2} end
local arrival, key = string.match(value, '^(%d+):([%d%-]+)$')
local member = (key or '') .. string.format('%016.0f', 9007199254740992 - tonumber(arrival or value)) .. ARGV[2]
local rank = redis.call('ZREVRANK', KEYS[2], member)
if not rank then return {2} end
local total = redis.call('ZCARD', KEYS[2])
local radius = tonumber(ARGV[3])
local window = math.min(2 * radius + 1, total)
local start = math.max(0, math.min(rank - radius, total - window))
local result = {1, rank, total, start}
local entries = redis.call('ZREVRANGE', KEYS[2], start, start + window - 1, 'WITHSCORES')
for _, item in ipairs(entries) do result[#result + 1] = item end
return result
