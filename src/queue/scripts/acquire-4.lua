--[[
  Takes one request slot from an org's shared budget, for every process at once.

  Pacing is GCRA (a theoretical arrival time per bucket): slots are spaced
  window / (limit * share) apart, so a run alone never bursts into a 429, and
  the slot is reserved here so that callers in many processes queue up instead of
  polling. The clock is Redis's own (TIME), the one clock every machine shares.
  The in-flight cap is a sorted set of leases that expire: a killed worker's
  slots come back by themselves.

  KEYS[1] bucket hash (limit, tat, pausedUntil)   KEYS[2] in-flight zset
  KEYS[3] org hash (pausedUntil)                  KEYS[4] stopped runs hash
  ARGV[1] leaseId  ARGV[2] runId or ""  ARGV[3] max in flight  ARGV[4] lease ms
  ARGV[5] share (already with its safety margin)  ARGV[6] (unused: the first response teaches the limit)
  ARGV[7] window ms  ARGV[8] furthest a slot may be reserved ahead, ms
  Returns {1, waitMs} granted: send after waitMs; {0, retryMs} try again later;
          {-1, reason} the run is stopped.
]]
if ARGV[2] ~= '' then
  local reason = redis.call('HGET', KEYS[4], ARGV[2])
  if reason then return {-1, reason} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local b = redis.call('HMGET', KEYS[1], 'pausedUntil', 'limit', 'tat')
local paused = math.max(tonumber(b[1] or '0'), tonumber(redis.call('HGET', KEYS[3], 'pausedUntil') or '0'))
if paused > now then return {0, paused - now} end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {0, 20} end

-- Until a response has told the bucket's limit, one request probes alone: others wait
-- for it (at most a second) instead of being paced on a guess.
if not b[2] then
  local probe = tonumber(redis.call('HGET', KEYS[1], 'probe') or '0')
  if probe > now - 1000 then return {0, 50} end
  redis.call('HSET', KEYS[1], 'probe', now)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
  return {1, 0}
end

local perWindow = math.floor(tonumber(b[2]) * tonumber(ARGV[5]))
if perWindow < 1 then perWindow = 1 end
local interval = tonumber(ARGV[7]) / perWindow
local tat = tonumber(b[3] or '0')
if tat < now then tat = now end
local wait = tat - now
-- Slots are reserved at most ARGV[8] ms ahead, and never more than half the in-flight cap
-- ahead: the reservations of a paced run would otherwise fill the cap, and every caller
-- left out would poll it every 20 ms (hundreds of calls a second for 5 requests a second).
local ahead = math.min(tonumber(ARGV[8]), interval * math.max(1, math.floor(tonumber(ARGV[3]) / 2)))
if wait > ahead then return {0, math.min(wait - ahead, 1000)} end

redis.call('HSET', KEYS[1], 'tat', tostring(tat + interval))
redis.call('ZADD', KEYS[2], now + wait + tonumber(ARGV[4]), ARGV[1])
return {1, math.floor(wait)}
