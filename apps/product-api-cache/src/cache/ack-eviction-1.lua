--[[
  Records and announces that a member dropped the groups of one eviction.

  KEYS[1] acks      set of the members that acknowledged this eviction (same hash tag as the
                    registry, so unconfirmed-members-2 reads both)
  ARGV[1] channel   the acknowledgement channel
  ARGV[2] member    the acknowledging member's id
  ARGV[3] ttlMs     lifetime of the set: longer than any writer waits
  ARGV[4] payload   the acknowledgement, JSON

  Returns 1.

  Invariant: a member acknowledges only after its L1 tier and running lookups dropped the
  groups; the set lets the writer see acknowledgements its own subscription missed.

  Proof: test/eviction-registry.test.ts "a publish is confirmed only once every other registered member has evicted"
]]
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[4])
return 1
