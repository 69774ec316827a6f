--[[
  Marks a run's targets as all stored; completes it at once when none is pending
  (an empty directory query, a file of only invalid rows).
  KEYS[1] counts hash   KEYS[2] meta hash
  ARGV[1] now (ms)
  Returns the run's state.
]]
redis.call('HSET', KEYS[2], 'loaded', '1')
local state = redis.call('HGET', KEYS[2], 'state')
local pending = tonumber(redis.call('HGET', KEYS[1], 'pending') or '0')
if pending <= 0 and (state == 'running' or state == 'queued') then
  redis.call('HSET', KEYS[2], 'state', 'completed', 'finishedAt', ARGV[1])
  return 'completed'
end
return state
