--[[
  record-failure-1: counts one failed login of a (username, IP) pair in a fixed window that
  starts at the first failure.

  KEYS[1]  the pair's failure counter
  ARGV[1]  window, ms

  Returns  {failures in the window, ms until the window ends}

  Invariant: the counter always carries a TTL (a counter left without one would lock the pair
  out forever), and it only grows within its window.
]]
local failures = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if failures == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {failures, ttl}
