--[[
  Changes the pace of a run that has not completed: its rate share and its pacing. When
  the share changes, the run's place among the org's runs is counted afresh from the
  queue's head at its next feed (queueBase cleared): counted at the new share from its
  old base, it would jump far ahead of the others or fall far behind them.
  KEYS[1] meta hash
  ARGV[1] rate share ('' leaves it)   ARGV[2] pacing ('' leaves it)
  ARGV[3] the default share (of a run stored without one)
  Returns { state, share before, pacing before }, false for an unknown run. A completed
  run is left as it is (its state says why).
]]
local m = redis.call('HMGET', KEYS[1], 'state', 'rateShare', 'pacing')
if not m[1] then return false end
if m[1] == 'completed' then return { m[1], m[2], m[3] } end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= tonumber(m[2] or ARGV[3]) then
  redis.call('HSET', KEYS[1], 'rateShare', ARGV[1], 'queueBase', '')
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'pacing', ARGV[2]) end
return { m[1], m[2], m[3] }
