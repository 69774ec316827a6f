--[[
  Puts targets back for `retry`: a failed target becomes pending again (its earlier
  attempts kept), a pending one of a halted or cancelled run is fed again. The run
  becomes running. Status codes as in record.ts (0 pending, 6 failed); a record
  stored before status codes holds the name.
  KEYS[1] targets hash   KEYS[2] counts hash   KEYS[3] requeue list   KEYS[4] meta hash
  ARGV[1] "1" to requeue pending targets too   ARGV[2..] targetKeys
  Returns how many were requeued.
]]
local n = 0
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local rec = cjson.decode(raw)
    local status = rec[7]
    if status == 6 or status == 'failed' then
      rec[7] = 0
      rec[8] = cjson.null
      for j = 10, 15 do rec[j] = cjson.null end
      redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(rec))
      redis.call('HINCRBY', KEYS[2], 'failed', -1)
      redis.call('HINCRBY', KEYS[2], 'pending', 1)
      redis.call('RPUSH', KEYS[3], ARGV[i])
      n = n + 1
    elseif (status == 0 or status == 'pending') and ARGV[1] == '1' then
      redis.call('RPUSH', KEYS[3], ARGV[i])
      n = n + 1
    end
  end
end
if n > 0 then
  redis.call('HSET', KEYS[4], 'state', 'running', 'stateReason', '', 'finishedAt', '')
end
return n
