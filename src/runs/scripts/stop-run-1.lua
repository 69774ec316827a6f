--[[
  Moves a run that is not yet final to `halted` or `cancelled`.
  KEYS[1] meta hash
  ARGV[1] new state   ARGV[2] reason   ARGV[3] now (ms)
  Returns the state the run is in afterwards.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state == 'completed' or state == 'halted' or state == 'cancelled' then return state end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'stateReason', ARGV[2], 'finishedAt', ARGV[3])
return ARGV[1]
