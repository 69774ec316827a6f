--[[
  Raises hash fields to the values given, never lowers them: a minute's budget is the
  highest the run had in force that minute. A pace lowered mid-minute would otherwise
  leave the lower budget beside the requests sent at the higher one, an overspend that
  did not happen.
  KEYS[1] hash
  ARGV[1], ARGV[2] … field, value pairs (numbers)
  Returns 0.
]]
for i = 1, #ARGV, 2 do
  local now = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '')
  local v = tonumber(ARGV[i + 1])
  if v and (not now or v > now) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
