--[[
  Forgets a run that is final in its org's buckets: its window count (`wRuns`, the part
  of each window a larger run leaves it under `--pacing window`) and its own clock
  (`rts`, even pacing). Without this a finished run kept its part reserved for one more
  window, which the other runs could not use.
  KEYS[1..6] the org's bucket hashes   ARGV[1] runId
]]
for _, key in ipairs(KEYS) do
  for _, field in ipairs({ 'wRuns', 'rts' }) do
    local raw = redis.call('HGET', key, field)
    if raw then
      local runs = cjson.decode(raw)
      if runs[ARGV[1]] ~= nil then
        runs[ARGV[1]] = nil
        if next(runs) == nil then redis.call('HDEL', key, field) else redis.call('HSET', key, field, cjson.encode(runs)) end
      end
    end
  end
end
return 1
