--[[
  After a caller slept until its slot: may it still send? Not if its run was stopped
  meanwhile, nor while a 429 has the bucket or the org paused. One call answers every
  caller of a run and bucket that woke in the same turn.

  KEYS[1] stopped runs hash   KEYS[2] bucket hash   KEYS[3] org hash
  ARGV[1] runId or ""
  Returns { stop reason or nil, 1 if paused else 0 }.
]]
-- false (HGET's missing field) reaches the caller as a nil reply: not stopped.
local reason = false
if ARGV[1] ~= '' then reason = redis.call('HGET', KEYS[1], ARGV[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = math.max(tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0'), tonumber(redis.call('HGET', KEYS[3], 'pausedUntil') or '0'))
return { reason, paused > now and 1 or 0 }
