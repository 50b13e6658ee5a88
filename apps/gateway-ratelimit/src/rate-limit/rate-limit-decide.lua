--[[
  rate-limit-decide.lua: one rate-limit decision for every limit of a request, atomically, on
  Redis' own clock (TIME), so replicas with skewed clocks agree. The number of keys varies with
  the policy (one per limit), which is why the file name carries no key count; all keys share
  one hash tag (rate-limit-keys.ts), so the script is Cluster-safe.

  KEYS[i]  the counter of limit i
  ARGV     7 values per limit i, at 7 * (i - 1) + 1 ...:
           algorithm ('fixed-window' | 'sliding-window' | 'gcra' | 'concurrency'),
           limit, windowMs, burst (gcra), cost, leaseMs (concurrency), lease member (concurrency)

  Returns {allowed, then per limit: allowed_i, remaining_i, resetMs_i, retryAfterMs_i}
    allowed        1 when every limit admits the request (and all are counted), else 0 and
                   nothing is written: a refused request consumes no quota of any limit
    remaining_i    what limit i would still admit right now
    resetMs_i      until limit i is fully available again
    retryAfterMs_i when limit i refuses: the wait until it would admit this request; else 0

  Invariants (proof: test/exact-algorithms.test.ts, test/gcra-script.test.ts):
    fixed-window   at most `limit` cost units per window, the window starting at the first request
    sliding-window this window's count + the previous one's weighted by the overlap <= limit
    gcra           in any span of d ms at most burst + d * limit / windowMs cost units
    concurrency    at most `limit` unexpired leases; a lease expires leaseMs after its last renewal

  Proof: test/exact-algorithms.test.ts "several limits per route: the tightest decides, and a refused request consumes no quota of any"
]]
local time = redis.call('TIME')
local nowUs = tonumber(time[1]) * 1000000 + tonumber(time[2])
local nowMs = math.floor(nowUs / 1000)
local n = #KEYS
local out = {1}
local commits = {}

for i = 1, n do
  local base = 7 * (i - 1)
  local algorithm = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local window = tonumber(ARGV[base + 3])
  local cost = tonumber(ARGV[base + 5])
  local key = KEYS[i]
  local ok, remaining, reset, retry

  if algorithm == 'fixed-window' then
    local count = tonumber(redis.call('GET', key) or '0')
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = window end
    ok = count + cost <= limit
    remaining = ok and (limit - count - cost) or 0
    reset = ttl
    retry = ok and 0 or ttl
    commits[i] = function()
      redis.call('INCRBY', key, cost)
      if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
    end
  elseif algorithm == 'sliding-window' then
    local id = math.floor(nowMs / window)
    local elapsed = nowMs - id * window
    local fields = redis.call('HMGET', key, tostring(id), tostring(id - 1))
    local current = tonumber(fields[1] or '0')
    local previous = tonumber(fields[2] or '0')
    local estimate = previous * (window - elapsed) / window + current
    ok = estimate + cost <= limit
    remaining = ok and math.floor(limit - estimate - cost) or 0
    reset = window - elapsed
    if ok then
      retry = 0
    elseif current + cost > limit then
      -- Not before the next window, where this window becomes the weighted previous one.
      local needed = 0
      if current > 0 then needed = math.max(0, math.ceil(window * (1 - (limit - cost) / current))) end
      retry = (window - elapsed) + math.min(needed, window)
    else
      retry = math.max(1, math.ceil(window * (1 - (limit - current - cost) / previous) - elapsed))
    end
    commits[i] = function()
      redis.call('HINCRBY', key, tostring(id), cost)
      redis.call('HDEL', key, tostring(id - 2))
      redis.call('PEXPIRE', key, 2 * window)
    end
  elseif algorithm == 'gcra' then
    local burst = tonumber(ARGV[base + 4])
    local interval = math.ceil(window * 1000 / limit)
    local tolerance = interval * burst
    local tat = tonumber(redis.call('GET', key) or nowUs)
    if tat < nowUs then tat = nowUs end
    local newTat = tat + interval * cost
    local allowAt = newTat - tolerance
    ok = allowAt <= nowUs
    if ok then
      remaining = math.floor((nowUs + tolerance - newTat) / interval)
      reset = math.ceil((newTat - nowUs) / 1000)
      retry = 0
    else
      remaining = 0
      reset = math.ceil((tat - nowUs) / 1000)
      retry = math.ceil((allowAt - nowUs) / 1000)
    end
    commits[i] = function()
      redis.call('SET', key, string.format('%d', newTat), 'PX', math.max(1, math.ceil((newTat - nowUs) / 1000)))
    end
  else -- concurrency
    local leaseMs = tonumber(ARGV[base + 6])
    local member = ARGV[base + 7]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', nowMs)
    local inFlight = redis.call('ZCARD', key)
    ok = inFlight + 1 <= limit
    remaining = ok and (limit - inFlight - 1) or 0
    reset = 0
    retry = ok and 0 or 1000
    commits[i] = function()
      redis.call('ZADD', key, nowMs + leaseMs, member)
      if redis.call('PTTL', key) < leaseMs then redis.call('PEXPIRE', key, leaseMs) end
    end
  end

  if not ok then out[1] = 0 end
  out[#out + 1] = ok and 1 or 0
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = retry
end

if out[1] == 1 then
  for i = 1, n do commits[i]() end
end
return out
