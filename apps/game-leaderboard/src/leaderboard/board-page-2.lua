--[[
  board-page: a page of one sorted set of a board, best first, and its size, read with the
  board's meta check so a missing index or a stale config is never read as an empty board.

  KEYS[1] the board's meta hash     KEYS[2] the sorted set (one hash tag)
  ARGV[1] config fingerprint (cv) the caller chose the sorted set from
  ARGV[2] first rank (0-based)      ARGV[3] last rank (0-based, inclusive)

  Returns {0} (no index: rebuild), {-1} (config changed) or
  {1, total, member1, score1, member2, score2, ...}.

  Proof: test/rebuild.test.ts "the index is rebuilt on first read, on every period"
]]
local state = redis.call('HMGET', KEYS[1], 'epoch', 'cv')
if not state[1] then return {0} end
if state[2] ~= ARGV[1] then return {-1} end
local result = {1, redis.call('ZCARD', KEYS[2])}
local page = redis.call('ZREVRANGE', KEYS[2], ARGV[2], ARGV[3], 'WITHSCORES')
for _, item in ipairs(page) do result[#result + 1] = item end
return result
