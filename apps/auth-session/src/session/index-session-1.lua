--[[
  index-session-1: records a login session in its user's index, which lists the user's sessions
  and finds the ones "log out other devices" revokes.

  KEYS[1]  the user's sorted set of session ids
  ARGV[1]  the session's absolute expiry, ms since the epoch (its score)
  ARGV[2]  the session id

  Returns  nothing.

  Invariant: the index always carries a TTL, never shorter than its longest-lived session (NX
  sets the first expiry, GT only ever extends it), so it cannot forget a live session by
  expiring, nor outlive every session forever.

  Proof: test/session-store.test.ts "keeps a user index alive as long as its longest session, and never shortens it"
]]
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1], 'NX')
redis.call('PEXPIREAT', KEYS[1], ARGV[1], 'GT')
