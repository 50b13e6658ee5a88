--[[
  submit-score: records one score of one player on a board's all-time, daily, weekly and
  monthly sorted sets at once, and announces a change of any top 10.

  Sorted-set scores encode `score * 2^22 + tie` (see score-encoding.ts); `tie` is larger for an
  earlier time, so equal scores rank the player who reached them first higher.

  KEYS[1] all-time board    KEYS[2] current daily board
  KEYS[3] current weekly    KEYS[4] current monthly      (one hash tag: one Cluster slot)
  ARGV[1] mode: best | increment | replace
  ARGV[2] score (best, replace) or delta (increment), an integer within +-(2^31 - 1)
  ARGV[3] player id
  ARGV[4] pub/sub channel announcing top-10 changes (the message is ARGV[5])
  ARGV[5] board name
  ARGV[6..9] tie-break per key, 0 <= tie < 2^22
  ARGV[10..12] TTL in ms of KEYS[2..4]

  Returns {1, all-time score, all-time rank (1-based)}, or {0, current all-time score, 0} when an
  increment would leave +-(2^31 - 1) on any board; nothing is written then.

  Invariant: per board, `best` keeps the maximum of every submission, `increment` the exact sum,
  `replace` the last; a score that does not change keeps the time it was first reached.
]]
local TIE = 4194304
local MAX = 2147483647
local TOP = 10
local mode = ARGV[1]
local value = tonumber(ARGV[2])
local member = ARGV[3]

local olds, news = {}, {}
for i = 1, 4 do
  local current = redis.call('ZSCORE', KEYS[i], member)
  local old = current and math.floor(tonumber(current) / TIE) or nil
  local new = value
  if mode == 'increment' then
    new = (old or 0) + value
  elseif mode == 'best' and old and old >= value then
    new = old
  end
  if new > MAX or new < -MAX then
    local all = redis.call('ZSCORE', KEYS[1], member)
    return {0, all and math.floor(tonumber(all) / TIE) or 0, 0}
  end
  olds[i], news[i] = old, new
end

local changed = false
for i = 1, 4 do
  if olds[i] == nil or olds[i] ~= news[i] then
    local before = redis.call('ZREVRANK', KEYS[i], member)
    -- %.0f: Lua's own number-to-string keeps 14 digits, too few for 2^53.
    redis.call('ZADD', KEYS[i], string.format('%.0f', news[i] * TIE + tonumber(ARGV[5 + i])), member)
    local after = redis.call('ZREVRANK', KEYS[i], member)
    if after < TOP or (before and before < TOP) then changed = true end
  end
  if i > 1 then redis.call('PEXPIRE', KEYS[i], ARGV[8 + i]) end
end

if changed then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {1, news[1], redis.call('ZREVRANK', KEYS[1], member) + 1}
