--[[
  Deletes a run that is final and older than a cutoff, all its keys at once (`runs prune`).
  Checked here, not by the caller: a `retry` that made the run active again since the
  caller read it keeps it.
  KEYS[1] meta hash  KEYS[2] targets hash  KEYS[3] order list  KEYS[4] requeue list
  KEYS[5] counts hash  KEYS[6] per-minute hash  KEYS[7] feed lock  KEYS[8] sent marks hash
  ARGV[1] cutoff (ms): the run finished (or, without finishedAt, was created) before it
  Returns { state, total targets } of the deleted run, or false when it was left.
]]
local m = redis.call('HMGET', KEYS[1], 'state', 'finishedAt', 'createdAt')
local state = m[1]
if not state then return false end
if state ~= 'completed' and state ~= 'halted' and state ~= 'cancelled' then return false end
local at = tonumber(m[2] or '') or tonumber(m[3] or '') or 0
if at >= tonumber(ARGV[1]) then return false end
local total = tonumber(redis.call('HGET', KEYS[5], 'total') or '0') or 0
-- UNLINK: a run of a million targets is freed in the background, not in this call.
redis.call('UNLINK', unpack(KEYS))
return { state, total }
