--[[
  submit-score: records one score of one player on every sorted set of a board at once (an
  implicit board's all-time, daily, weekly and monthly sets; a configured board's current
  period), and announces a change of any top 10.

  Loaded with the key count of the caller (3 or 9), hence no count in the file name.
  KEYS[1]            the board's meta hash (epoch, cv, cfg, seq, scored)
  KEYS[2k], [2k+1]   sorted set k and its player -> arrival hash (k = 1..n; one hash tag)
  ARGV[1] the config fingerprint (cv) the caller built the keys from
  ARGV[2] operator: best | set | increment | decrement
  ARGV[3] value: the score (best, set) or the amount (increment, decrement), within +-(2^53 - 1)
  ARGV[4] sort: desc | asc (asc boards store the negated score, so higher is always better)
  ARGV[5] player id
  ARGV[6] pub/sub channel announcing top-10 changes (the message is ARGV[7])
  ARGV[7] board name
  ARGV[8] subscore order: desc | asc, or '' for a board without subscores
  ARGV[9] subscore value (best, set) or amount (increment, decrement); '' without subscores
  ARGV[9 + k] TTL in ms of sorted set k and its hash, 0 for none

  Returns {0} when the meta hash is missing (the index must be rebuilt first), {-1} when the
  config changed (the caller reloads it), {2, current score in set 1 or false} when the result
  would leave +-(2^53 - 1) on any set (nothing written), else {1, epoch, seq, rank in set 1
  (1-based), score 1, arrival 1, subscore 1, ..., score n, arrival n, subscore n}.

  Invariant: `seq` = HINCRBY of the board's counter, so arrivals are unique and in the order
  Redis ran the submissions, whatever the replicas' clocks say. A score that changes takes
  arrival `seq`; one that does not (a worse best, an equal set, a zero increment) keeps the
  arrival at which it was first reached. Members are pad16(2^53 - arrival) .. player id, so
  equal scores order by arrival; on a subscore board they are subkey(subscore) .. that, so equal
  scores order by subscore, then arrival (score-encoding.ts). The arrival hash holds `arrival`,
  or `arrival:subkey` on a subscore board.

  Proof: test/scores-exact.test.ts "keeps exactly each player maximum (best) and sum (increment)"
  Proof: test/ties.test.ts "ranks equal scores by arrival at Redis"
]]
local BIG = 9007199254740992
local MAX = 9007199254740991
local TOP = 10

local state = redis.call('HMGET', KEYS[1], 'epoch', 'cv')
if not state[1] then return {0} end
if state[2] ~= ARGV[1] then return {-1} end

local operator = ARGV[2]
local value = tonumber(ARGV[3])
local sign = (ARGV[4] == 'asc') and -1 or 1
local player = ARGV[5]
local subOrder = ARGV[8]
local hasSub = subOrder ~= ''
local subValue = hasSub and tonumber(ARGV[9]) or 0
local subSign = (subOrder == 'asc') and -1 or 1
local n = (#KEYS - 1) / 2

-- The 17-character key of a subscore: sorts bytewise as the subscore ranks.
local function subKey(sub)
  local v = subSign * sub
  -- -1 * 0 is -0 in Lua, and '%016.0f' of it '-000000000000000', which no reader parses.
  if v == 0 then v = 0 end
  if v >= 0 then return '1' .. string.format('%016.0f', v) end
  return '0' .. string.format('%016.0f', BIG + v)
end
local function subOfKey(key)
  local digits = tonumber(string.sub(key, 2))
  local v = (string.sub(key, 1, 1) == '1') and digits or digits - BIG
  local sub = subSign * v
  if sub == 0 then sub = 0 end
  return sub
end
local function tail(arrival)
  return string.format('%016.0f', BIG - arrival) .. player
end
local function member(arrival, sub)
  if hasSub then return subKey(sub) .. tail(arrival) end
  return tail(arrival)
end
local function hashValue(arrival, sub)
  if hasSub then return string.format('%.0f', arrival) .. ':' .. subKey(sub) end
  return arrival
end
-- {arrival, subscore, stored member} from an arrival-hash value, or nil. The member is rebuilt
-- from the stored key as it is: one written before -0 was normalised reads '1-000000000000000'.
local function parse(v)
  if not v then return nil end
  local arrival, key = string.match(v, '^(%d+):([%d%-]+)$')
  if arrival then return tonumber(arrival), subOfKey(key), key .. tail(tonumber(arrival)) end
  return tonumber(v), 0, tail(tonumber(v))
end
local function outOfRange(x) return x > MAX or x < -MAX end

local olds, oldSubs, oldMembers, arrivals, news, newSubs = {}, {}, {}, {}, {}, {}
for k = 1, n do
  local set, hash = KEYS[2 * k], KEYS[2 * k + 1]
  local arrival, oldSub, oldMember = parse(redis.call('HGET', hash, player))
  local stored = arrival and redis.call('ZSCORE', set, oldMember)
  local old = stored and sign * tonumber(stored) or nil
  if not stored then oldSub = nil end
  local new, newSub = value, subValue
  if operator == 'increment' then
    new = (old or 0) + value
    newSub = (oldSub or 0) + subValue
  elseif operator == 'decrement' then
    new = (old or 0) - value
    newSub = (oldSub or 0) - subValue
  elseif operator == 'best' and old then
    -- The better (score, subscore) pair stays; an equal pair keeps its first arrival.
    if sign * old > sign * value or (old == value and subSign * oldSub >= subSign * subValue) then
      new, newSub = old, oldSub
    end
  end
  if outOfRange(new) or outOfRange(newSub) then
    local first = olds[1] or old
    return {2, first and string.format('%.0f', first) or false}
  end
  if not stored then arrival = nil end
  olds[k], oldSubs[k], oldMembers[k], arrivals[k] = old, oldSub, oldMember, arrival
  news[k], newSubs[k] = new, newSub
end

local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'scored', 1)
local changed = false
local result = {1, tonumber(state[1]), seq, 0}
for k = 1, n do
  local set, hash = KEYS[2 * k], KEYS[2 * k + 1]
  if olds[k] == nil or olds[k] ~= news[k] or oldSubs[k] ~= newSubs[k] then
    local before = nil
    if arrivals[k] then
      local previous = oldMembers[k]
      before = redis.call('ZREVRANK', set, previous)
      redis.call('ZREM', set, previous)
    end
    arrivals[k] = seq
    local stored = sign * news[k]
    if stored == 0 then stored = 0 end
    local now = member(seq, newSubs[k])
    -- %.0f: Lua's own number-to-string keeps 14 digits, too few for 2^53.
    redis.call('ZADD', set, string.format('%.0f', stored), now)
    redis.call('HSET', hash, player, hashValue(seq, newSubs[k]))
    local after = redis.call('ZREVRANK', set, now)
    if after < TOP or (before and before < TOP) then changed = true end
  end
  local ttl = tonumber(ARGV[9 + k])
  if ttl > 0 then
    redis.call('PEXPIRE', set, ttl)
    redis.call('PEXPIRE', hash, ttl)
  end
  result[#result + 1] = string.format('%.0f', news[k])
  result[#result + 1] = arrivals[k]
  result[#result + 1] = string.format('%.0f', newSubs[k])
end
result[4] = redis.call('ZREVRANK', KEYS[2], member(arrivals[1], newSubs[1])) + 1

if changed then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return result
