--[[
  Publishes an eviction and returns who must acknowledge it: the members registered now.

  KEYS[1] members   sorted set: member id -> registration expiry (Redis TIME, ms)
  KEYS[2] seq       counter numbering the messages of the eviction channel
  ARGV[1] channel   the eviction channel
  ARGV[2] payload   the eviction, JSON

  Returns {seq, {member, ...}}: the message's number and every member live at the moment it
  was published.

  Invariant: reading the members and publishing are one atomic step, so a member is either in
  the list (and the writer waits for its acknowledgement or its expiry) or it registered after
  the message went out; a member empties its L1 tier when it registers, so it holds nothing
  older than this eviction. PUBLISH counts only this node's subscribers on a Cluster, so that
  count is never used.

  Proof: test/eviction-registry.test.ts "a publish is confirmed only once every other registered member has evicted"
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], seq .. '|' .. ARGV[2])
return {seq, live}
