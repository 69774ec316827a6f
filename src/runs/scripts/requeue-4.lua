--[[
  Puts targets back for `retry`: a failed target becomes pending again (its earlier
  attempts kept, a fresh --attempts to spend), a pending one of a halted or cancelled run is fed again. The run
  becomes running, unless it was halted or cancelled meanwhile. Status codes as in record.ts (0 pending, 6 failed).
  KEYS[1] targets hash   KEYS[2] counts hash   KEYS[3] requeue list   KEYS[4] meta hash
  ARGV[1] "1" to requeue pending targets too   ARGV[2..] targetKeys
  Returns how many were requeued.
]]
-- 1-based indexes where 0 means absent (text, lists, attempt counts): record.ts.
local ZERO_ABSENT = { [9] = true, [11] = true, [12] = true, [13] = true, [15] = true, [16] = true, [17] = true, [18] = true, [19] = true }
local n = 0
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local rec = cjson.decode(raw)
    local status = rec[7]
    if status == 6 then
      -- The result's fields cleared as toRedis writes them absent (1-based here):
      -- 8 grantsRevoked, 10 httpStatus, 14 finishedAt null; 11-13 error, 18 tokensRevokedFor 0.
      -- 19 revokeSent stays, and with it 15 grants (what was listed before a DELETE whose
      -- answer was lost: the retry that finds nothing counts them revoked); else 15 is cleared.
      local sent = rec[19] == 1
      rec[7] = 0
      rec[8] = cjson.null
      if rec[9] == nil then rec[9] = 0 end
      rec[10] = cjson.null
      for j = 11, 13 do rec[j] = 0 end
      rec[14] = cjson.null
      if not sent then rec[15] = 0 end
      -- 17 roundAttempts and 18 set to 0 only where they exist: a Lua list takes no hole.
      if #rec >= 18 then rec[18] = 0 end
      if #rec >= 17 then rec[17] = 0 end
      -- Trailing absent values dropped, as toRedis does (16 resolvedUserId is kept).
      while #rec > 7 and (rec[#rec] == cjson.null or (rec[#rec] == 0 and ZERO_ABSENT[#rec])) do rec[#rec] = nil end
      redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(rec))
      redis.call('HINCRBY', KEYS[2], 'failed', -1)
      redis.call('HINCRBY', KEYS[2], 'pending', 1)
      redis.call('RPUSH', KEYS[3], ARGV[i])
      n = n + 1
    elseif status == 0 and ARGV[1] == '1' then
      redis.call('RPUSH', KEYS[3], ARGV[i])
      n = n + 1
    end
  end
end
-- A completed run with failed targets put back runs again; a run halted or cancelled since
-- the retry resumed it stays stopped (its stop came later and wins).
if n > 0 then
  local state = redis.call('HGET', KEYS[4], 'state')
  if state ~= 'halted' and state ~= 'cancelled' then
    redis.call('HSET', KEYS[4], 'state', 'running', 'stateReason', '', 'finishedAt', '')
  end
end
return n
