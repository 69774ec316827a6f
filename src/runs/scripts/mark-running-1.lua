--[[
  Marks a queued run running, when its first target starts. Only a queued run: a run
  cancelled, halted or completed meanwhile is never brought back to life.
  KEYS[1] meta hash
]]
if redis.call('HGET', KEYS[1], 'state') == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'running')
end
return 0
