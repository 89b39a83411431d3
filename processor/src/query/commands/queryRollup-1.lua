--[[
  Partial rollup of one window of one partition: every aggregate over a set of groups merged into
  one partial (counts and sums added, min/max compared, avg as sum and count, first/last with their
  event time, DDSketch buckets and topK member counts added, HyperLogLogs merged with PFMERGE), so
  the caller only merges one partial per partition. Its only write is a temporary key for PFMERGE,
  under the partition's hash tag, deleted before the script returns.

  Input:
    KEYS[1]  the window hash, kf:{p:v:n}:w:<start>; the sketch keys share its hash tag
    ARGV[1]  JSON list of the aggregates, in order, each { k = kind, n = name }
    ARGV[2]  a nonce for the temporary HyperLogLog key
    ARGV[3]  'all': every group of the window, found as in queryGroups from ARGV[4] ('h' or 's')
             and ARGV[5] (the prefix); 'list': the groups ARGV[4..]
  Output: { {group, ...} (mode 'all', else {}), one partial per aggregate:
            count/sum {total}, min/max {value}, avg {sum, count}, first/last {value, time}
            (each {} when no group has it), percentile {bucket, n, ...}, topK {member, n, ...},
            countDistinct the raw merged HyperLogLog (or nil) }
]]
local hash = KEYS[1]
local aggregates = cjson.decode(ARGV[1])
local groups = {}
local listed = {}
if ARGV[3] == 'all' then
  kf_each_group(hash, ARGV[4], ARGV[5], function(group)
    groups[#groups + 1] = group
  end)
  listed = groups
else
  for a = 4, #ARGV do groups[#groups + 1] = ARGV[a] end
end

local function fmt(x) return string.format('%.17g', x) end

-- The hash fields to read per group: heads[i] .. group, and where each aggregate's fields sit.
local heads = {}
local at = {}
for i, agg in ipairs(aggregates) do
  local k = agg.k
  if k == 'count' or k == 'sum' or k == 'min' or k == 'max' then
    heads[#heads + 1] = agg.n .. '|'
    at[i] = #heads
  elseif k == 'avg' then
    heads[#heads + 1] = agg.n .. '#s|'
    heads[#heads + 1] = agg.n .. '#n|'
    at[i] = #heads - 1
  elseif k == 'first' or k == 'last' then
    heads[#heads + 1] = agg.n .. '|'
    heads[#heads + 1] = agg.n .. '#t|'
    at[i] = #heads - 1
  end
end

local acc = {}
for i = 1, #aggregates do acc[i] = {} end
local fields = {}
for _, group in ipairs(groups) do
  if #heads > 0 then
    for h, head in ipairs(heads) do fields[h] = head .. group end
    local values = redis.call('HMGET', hash, unpack(fields))
    for i, agg in ipairs(aggregates) do
      local j = at[i]
      if j then
        local k = agg.k
        local a = acc[i]
        local raw = values[j]
        if k == 'count' or k == 'sum' then
          if raw then a.v = (a.v or 0) + tonumber(raw) end
        elseif k == 'min' then
          if raw then
            local x = tonumber(raw)
            if a.v == nil or x < a.v then a.v = x end
          end
        elseif k == 'max' then
          if raw then
            local x = tonumber(raw)
            if a.v == nil or x > a.v then a.v = x end
          end
        elseif k == 'avg' then
          if raw then a.s = (a.s or 0) + tonumber(raw) end
          local n = values[j + 1]
          if n then a.n = (a.n or 0) + tonumber(n) end
        else
          local t = values[j + 1]
          if raw and t then
            t = tonumber(t)
            if a.t == nil or (k == 'first' and t < a.t) or (k == 'last' and t >= a.t) then
              a.t = t
              a.v = raw
            end
          end
        end
      end
    end
  end
end

local out = { listed }
for i, agg in ipairs(aggregates) do
  local k = agg.k
  local a = acc[i]
  local result = {}
  if k == 'count' or k == 'sum' or k == 'min' or k == 'max' then
    if a.v ~= nil then result = { fmt(a.v) } end
  elseif k == 'avg' then
    if a.s ~= nil or a.n ~= nil then result = { fmt(a.s or 0), fmt(a.n or 0) } end
  elseif k == 'first' or k == 'last' then
    if a.v ~= nil then result = { a.v, fmt(a.t) } end
  elseif k == 'percentile' then
    local buckets = {}
    local order = {}
    for _, group in ipairs(groups) do
      local flat = kf_dd_flat(hash, agg.n, group)
      for j = 1, #flat, 2 do
        local b = flat[j]
        if buckets[b] == nil then
          buckets[b] = 0
          order[#order + 1] = b
        end
        buckets[b] = buckets[b] + tonumber(flat[j + 1])
      end
    end
    for _, b in ipairs(order) do
      result[#result + 1] = b
      result[#result + 1] = fmt(buckets[b])
    end
  elseif k == 'topK' then
    local members = {}
    local order = {}
    for _, group in ipairs(groups) do
      local flat = redis.call('ZRANGE', hash .. ':top:' .. agg.n .. '|' .. group, 0, -1, 'WITHSCORES')
      for j = 1, #flat, 2 do
        local m = flat[j]
        if members[m] == nil then
          members[m] = 0
          order[#order + 1] = m
        end
        members[m] = members[m] + tonumber(flat[j + 1])
      end
    end
    for _, m in ipairs(order) do
      result[#result + 1] = m
      result[#result + 1] = fmt(members[m])
    end
  elseif k == 'countDistinct' then
    result = false
    if #groups > 0 then
      local tmp = hash .. ':qtmp:' .. ARGV[2]
      -- packed sketches (fields of the hash) go through a second temporary key to be merged
      local packedTmp = tmp .. ':p'
      local sources = {}
      for _, group in ipairs(groups) do
        sources[#sources + 1] = hash .. ':hll:' .. agg.n .. '|' .. group
        if #sources == 1000 then
          redis.call('PFMERGE', tmp, unpack(sources))
          sources = {}
        end
        local packed = redis.call('HGET', hash, agg.n .. '#h|' .. group)
        if packed then
          redis.call('SET', packedTmp, packed)
          redis.call('PFMERGE', tmp, packedTmp)
        end
      end
      if #sources > 0 then redis.call('PFMERGE', tmp, unpack(sources)) end
      result = redis.call('GET', tmp)
      redis.call('DEL', tmp, packedTmp)
    end
  end
  out[i + 1] = result
end
return out
