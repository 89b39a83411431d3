--[[
  Partial rollup of one window (or slice) of one partition from its write-side totals
  (state/rollup-totals.ts): O(aggregates) reads instead of one per group, in queryRollup's reply
  format behind a status. Read-only.

  Input:
    KEYS[1]  the window or slice hash, kf:{p:v:n}:w:<start>; its totals keys share its hash tag
    ARGV[1]  JSON list of the aggregates, in order, each { k = kind, n = name }
    ARGV[2]  '1': leave the group set out (the caller counts groups with query/group-count.ts)
  Output: { status, {group, ...}, one partial per aggregate as queryRollup gives it }, status
          1: totals read; 0: the partial has no state (nothing to merge); -1: it has state but no
          totals (written before its pipeline kept them): the caller scans its groups instead
]]
local hash = KEYS[1]
local tot = hash .. ':tot'
if redis.call('EXISTS', tot .. ':g') == 0 then
  if redis.call('EXISTS', hash, hash .. ':keys') == 0 then return { 0, {} } end
  return { -1, {} }
end
local out = { 1, ARGV[2] == '1' and {} or redis.call('SMEMBERS', tot .. ':g') }
for i, agg in ipairs(cjson.decode(ARGV[1])) do
  local k = agg.k
  local head = agg.n .. '|'
  local result = {}
  if k == 'count' or k == 'sum' or k == 'min' or k == 'max' then
    local v = redis.call('HGET', tot, head)
    if v then result = { v } end
  elseif k == 'avg' then
    local v = redis.call('HMGET', tot, agg.n .. '#s|', agg.n .. '#n|')
    if v[1] or v[2] then result = { v[1] or '0', v[2] or '0' } end
  elseif k == 'first' or k == 'last' then
    local v = redis.call('HMGET', tot, head, agg.n .. '#t|')
    if v[1] and v[2] then result = { v[1], v[2] } end
  elseif k == 'percentile' then
    result = redis.call('HGETALL', tot .. ':dd:' .. agg.n)
  elseif k == 'topK' then
    result = redis.call('ZRANGE', tot .. ':top:' .. agg.n, 0, -1, 'WITHSCORES')
  elseif k == 'countDistinct' then
    result = redis.call('GET', tot .. ':hll:' .. agg.n)
  end
  out[i + 2] = result
end
return out
