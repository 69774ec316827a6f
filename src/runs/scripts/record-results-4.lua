--[[
  Records targets' final results, each exactly once. BullMQ delivers at least once: a
  target processed again after a crash finds its result already final and changes
  nothing, so every counter equals the results. The last result completes the run.
  One call carries every result of a run that finished in the same turn of a worker's
  event loop. A record whose status is pending is progress, not a result (the attempts
  a target has spent, kept for the worker that goes on): it replaces a pending record
  and leaves the counters alone.
  A final result takes the target's sent mark away (KEYS[4], run-store.ts markSent): its
  tries are settled.
  KEYS[1] targets hash   KEYS[2] counts hash   KEYS[3] meta hash   KEYS[4] sent marks hash
  ARGV[1] now (ms), then per target: targetKey, record (JSON), status
  Returns per target 1 recorded, 0 already final, -1 unknown target.
]]
-- Status code 0 (record.ts). A record that cannot be read counts as pending: a result may
-- replace it (run-store.ts).
local function isPending(raw)
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' then return true end
  return rec[7] == 0
end
local out = {}
local pending = nil
for i = 2, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if not old then
    out[#out + 1] = -1
  elseif not isPending(old) then
    -- Already final (a redelivery's try): its mark goes all the same.
    redis.call('HDEL', KEYS[4], ARGV[i])
    out[#out + 1] = 0
  elseif ARGV[i + 2] == 'pending' then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    out[#out + 1] = 1
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('HDEL', KEYS[4], ARGV[i])
    pending = redis.call('HINCRBY', KEYS[2], 'pending', -1)
    redis.call('HINCRBY', KEYS[2], ARGV[i + 2], 1)
    out[#out + 1] = 1
  end
end
if pending ~= nil and pending <= 0 and redis.call('HGET', KEYS[3], 'loaded') == '1' then
  local state = redis.call('HGET', KEYS[3], 'state')
  if state == 'running' or state == 'queued' then
    redis.call('HSET', KEYS[3], 'state', 'completed', 'finishedAt', ARGV[1])
  end
end
return out
