--[[
  configure-board: sets a board's configuration unless it already took scores under another one.

  KEYS[1] the board's meta hash
  ARGV[1] new config fingerprint (cv)    ARGV[2] new config (canonical JSON)

  Returns {0} when the meta hash is missing (rebuild first), {1} when the board now has this
  configuration (set, or already the same), {2, current cfg} when the board has scores under
  another configuration (nothing changed).

  Invariant: once `scored` is set (by the first submission), `cv` and `cfg` never change.

  Proof: test/board-config.test.ts "refuses a conflicting PUT with 409 once a board has scores"
]]
local state = redis.call('HMGET', KEYS[1], 'epoch', 'cv', 'cfg', 'scored')
if not state[1] then return {0} end
if state[2] == ARGV[1] then return {1} end
if state[4] == '1' then return {2, state[3] or ''} end
redis.call('HSET', KEYS[1], 'cv', ARGV[1], 'cfg', ARGV[2])
return {1}
