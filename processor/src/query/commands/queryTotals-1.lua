--[[
  Partial rollups of the parts of one window (its hash, or its slices', on each partition) from
  their write-side totals (state/rollup-totals.ts): O(aggregates) reads per part instead of one per
  group, in queryRollup's reply format. On one Redis node the caller reads every part in one call
  and the distinct counts come back counted (PFCOUNT over the parts' HyperLogLogs, which merges
  them exactly as PFMERGE would); on a Redis Cluster the parts are in different slots, so it reads
  one part per call and gets the raw HyperLogLog to merge across slots (query/hll.ts).

  Input:
    KEYS[1]  the first part's hash, kf:{p:v:n}:w:<start>; its totals keys share its hash tag
    ARGV[1]  JSON list of the aggregates, in order, each { k = kind, n = name }
    ARGV[2]  'count': countDistinct counted over all the parts; 'raw': its raw HyperLogLog per part
    ARGV[3..] the parts' hashes, ARGV[3] = KEYS[1] (more than one: one Redis node only)
  Output: { status, {distinct count, ...} (one per countDistinct aggregate, 'count' mode; else {}),
            then per part with state, in order, { one partial per aggregate } }
          A partial is as queryRollup gives it, except percentile: its buckets as one string
          'bucket,n,bucket,n,...' ('' for none; bucket names have no comma), and countDistinct:
          the raw HyperLogLog ('raw' mode; false when none) or false ('count' mode).
          status 1: totals read (parts without state leave no partial); -1: a part has state but
          no totals (written before its pipeline kept them): the caller scans the groups instead.
  Read-only: PFCOUNT over one key may write the count it caches into the key, so one key is
  counted as PFCOUNT key key (the same registers, the same estimate).
]]
local aggregates = cjson.decode(ARGV[1])
local counted = ARGV[2] == 'count'
local out = { 1, {} }
local hlls = {}
for a = 3, #ARGV do
  local hash = ARGV[a]
  local tot = hash .. ':tot'
  if redis.call('EXISTS', tot .. ':g') == 0 then
    if redis.call('EXISTS', hash, hash .. ':keys') > 0 then return { -1, {} } end
  else
    local partial = {}
    for i, agg in ipairs(aggregates) do
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
        result = table.concat(redis.call('HGETALL', tot .. ':dd:' .. agg.n), ',')
      elseif k == 'topK' then
        result = redis.call('ZRANGE', tot .. ':top:' .. agg.n, 0, -1, 'WITHSCORES')
      elseif k == 'countDistinct' then
        local key = tot .. ':hll:' .. agg.n
        if counted then
          -- only parts whose HyperLogLog is there and not empty, as query/hll.ts counts them
          if redis.call('STRLEN', key) > 0 then
            hlls[i] = hlls[i] or {}
            hlls[i][#hlls[i] + 1] = key
          end
          result = false
        else
          result = redis.call('GET', tot .. ':hll:' .. agg.n)
        end
      end
      partial[i] = result
    end
    out[#out + 1] = partial
  end
end
if counted then
  for i, agg in ipairs(aggregates) do
    if agg.k == 'countDistinct' then
      local keys = hlls[i] or {}
      local n = 0
      if #keys == 1 then n = redis.call('PFCOUNT', keys[1], keys[1])
      elseif #keys > 1 then n = redis.call('PFCOUNT', unpack(keys)) end
      out[2][#out[2] + 1] = n
    end
  end
end
return out
