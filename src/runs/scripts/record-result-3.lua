--[[
  Records a target's final result exactly once. BullMQ delivers at least once: a
  target processed again after a crash finds its result already final and changes
  nothing, so every counter equals the results. The last result completes the run.
  KEYS[1] targets hash   KEYS[2] counts hash   KEYS[3] meta hash
  ARGV[1] targetKey  ARGV[2] record (JSON)  ARGV[3] status  ARGV[4] now (ms)
  Returns 1 recorded, 0 already final, -1 unknown target.
]]
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return -1 end
if cjson.decode(old)[7] ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local pending = redis.call('HINCRBY', KEYS[2], 'pending', -1)
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
if pending <= 0 and redis.call('HGET', KEYS[3], 'loaded') == '1' then
  local state = redis.call('HGET', KEYS[3], 'state')
  if state == 'running' or state == 'queued' then
    redis.call('HSET', KEYS[3], 'state', 'completed', 'finishedAt', ARGV[4])
  end
end
return 1
