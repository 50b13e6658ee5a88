--[[
  settle-attempt-3: settles a reserved login attempt that did not end in a failure.

  KEYS[1]  the pair's attempt counter
  KEYS[2]  the username's attempt counter
  KEYS[3]  the pair's known-client marker
  ARGV[1]  'success': the password was right; the pair's count is cleared (that client knows
           the password) and this attempt's slot goes back to the username's count, whose other
           attempts (other clients' failures) stay until its window ends.
           'unused': the password was never evaluated (hash queue full, database away); the
           slot goes back to both counts.
  ARGV[2]  on 'success': how long (ms) the pair stays a known client (0: never marked)

  Returns  1

  Invariant: a counter is never decremented below 0 and keeps its TTL (DECR does not touch it).

  Proof: test/login-lockout.test.ts "exempts a client that logged in from the per-user limit, not from its own"
]]
local function giveBack(key)
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
if ARGV[1] == 'success' then
  redis.call('DEL', KEYS[1])
  if tonumber(ARGV[2]) > 0 then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  end
else
  giveBack(KEYS[1])
end
giveBack(KEYS[2])
return 1
