--[[
  destroy-session-1: deletes a session and says whose it was, so the caller can drop it from
  that user's index.

  KEYS[1]  the session hash
  Returns  the userId of the deleted session, or false when there was none.

  Invariant: after it returns, no replica can load the session: every read goes to this key.

  Proof: test/session-store.test.ts "indexes sessions per user, prunes vanished ones, and removes everywhere"
]]
local userId = redis.call('HGET', KEYS[1], 'userId')
redis.call('DEL', KEYS[1])
return userId
