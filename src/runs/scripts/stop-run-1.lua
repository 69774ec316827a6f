--[[
  Moves a run that is not yet final to `halted` or `cancelled`.
  KEYS[1] meta hash
  ARGV[1] new state   ARGV[2] reason   ARGV[3] now (ms)
  Returns { the state the run is in afterwards, 1 if this call moved it else 0 }: of the
  processes that halt a run at once, one says so.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state == 'completed' or state == 'halted' or state == 'cancelled' then return { state, 0 } end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'stateReason', ARGV[2], 'finishedAt', ARGV[3])
return { ARGV[1], 1 }
