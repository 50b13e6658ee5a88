--[[
  Reads a cache entry, or hands out the lease to load it (Facebook memcache leases).

  KEYS[1] entry     the cached value: "<softExpiresAtMs>|<status>|<etag>|<body>"
  KEYS[2] lease     "<entry>:lease", the token of the one caller allowed to fill the entry
  KEYS[3] index     set of every entry name of the group (same {hash tag}), read by invalidate-1
  ARGV[1] token     caller's random token
  ARGV[2] leaseMs   lease lifetime: a loader that dies loses it after this
  ARGV[3] nowMs     caller's clock, compared with the entry's soft expiry
  ARGV[4] indexMs   index lifetime, longer than any entry's

  Returns {0, value} fresh hit; {1, value} stale and the caller holds the refresh lease;
  {2, value} stale, another caller refreshes; {3} miss and the caller holds the lease;
  {4} miss, another caller holds the lease (wait and ask again).

  Invariant: at most one lease per entry exists at a time, and every entry or lease handed out is
  listed in the index first, so invalidate-1 finds it. Only the lease holder's fill-2 can write
  the entry, which is what makes a stale set impossible.

  Proof: test/stampede.test.ts "500 concurrent GETs of one cold product over two replicas cost one query"
]]
local value = redis.call('GET', KEYS[1])
if value then
  local separator = string.find(value, '|', 1, true)
  local softExpiresAt = tonumber(string.sub(value, 1, separator - 1))
  if softExpiresAt > tonumber(ARGV[3]) then
    return {0, value}
  end
end

local function takeLease()
  redis.call('SADD', KEYS[3], KEYS[1])
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[3], ARGV[4])
  end
  return redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2])
end

if value then
  if takeLease() then
    return {1, value}
  end
  return {2, value}
end
if takeLease() then
  return {3}
end
return {4}
