--[[
  reserve-attempt-3: reserves one login attempt for a (username, client) pair and for the
  username, before the password is hashed, or refuses it.

  KEYS[1]  the pair's attempt counter   ({username} hash tag: both keys in one Cluster slot)
  KEYS[2]  the username's attempt counter
  KEYS[3]  the pair's known-client marker (set by a successful login of this pair)
  ARGV[1]  window, ms (fixed, from the first attempt)
  ARGV[2]  attempts allowed per pair in the window
  ARGV[3]  attempts allowed per username in the window

  Returns  {1, 0} reserved (both counters + 1), or {0, ms until the full counter's window ends}

  A known client is exempt from the per-username limit (not from its pair's): a distributed
  attacker that fills the username's count does not lock out a client that logged in before.

  Invariants: a counter always carries a TTL (one left without would lock out forever); the
  check and the increments are one atomic step, so however many requests run in parallel at
  most ARGV[2] attempts per pair and ARGV[3] per username are ever reserved in a window.

  Proof: test/login-lockout.test.ts "reserves at most the limits per pair and per user, in a window that always has a TTL"
]]
local window = tonumber(ARGV[1])
local limits = { tonumber(ARGV[2]), tonumber(ARGV[3]) }
local counters = { KEYS[1], KEYS[2] }
if redis.call('EXISTS', KEYS[3]) == 1 then
  limits[2] = math.huge
end

for i, key in ipairs(counters) do
  local held = tonumber(redis.call('GET', key) or '0')
  local ttl = redis.call('PTTL', key)
  if held > 0 and ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  if held >= limits[i] then
    return { 0, ttl }
  end
end
for _, key in ipairs(counters) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, window)
  end
end
return { 1, 0 }
