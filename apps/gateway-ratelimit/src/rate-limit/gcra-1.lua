--[[
  gcra-1.lua: one rate-limit decision with the generic cell rate algorithm (GCRA), for one client,
  atomically, on Redis' own clock (TIME), so replicas with skewed clocks still agree.

  KEYS[1]  the client's theoretical arrival time (TAT), integer microseconds since the epoch
  ARGV[1]  limit: requests per period, integer >= 1
  ARGV[2]  period in milliseconds, integer >= 1

  Returns {allowed, remaining, retryAfterMs, resetMs}
    allowed       1 when the request passes (and is counted), 0 when refused (nothing written)
    remaining     how many more requests would pass right now
    retryAfterMs  when refused: the wait until this request would pass; else 0
    resetMs       the wait until the full burst of `limit` is available again

  Invariant: in any span of d ms at most limit + floor(d * limit / period) requests pass: a full
  burst of `limit`, then one per period / limit. Unlike a fixed window, never 2 x limit around an
  edge. A refused request does not move the TAT, so hammering does not extend the wait.
]]
local limit = tonumber(ARGV[1])
local interval = math.ceil(tonumber(ARGV[2]) * 1000 / limit)
local burst = interval * limit
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local newTat = tat + interval
local allowAt = newTat - burst
if allowAt > now then
  return {0, 0, math.ceil((allowAt - now) / 1000), math.ceil((tat - now) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%d', newTat), 'PX', math.ceil((newTat - now) / 1000))
return {1, math.floor((now + burst - newTat) / interval), 0, math.ceil((newTat - now) / 1000)}
