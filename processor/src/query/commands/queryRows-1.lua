--[[
  Read-only. The state of the given groups of one window of one partition: their hash fields, and
  their DDSketch (keys or packed fields) and topK keys (HyperLogLogs come from queryHll, as raw bytes).

  Input:
    KEYS[1]  the window hash, kf:{p:v:n}:w:<start>; the sketch keys share its hash tag
    ARGV[1]  JSON { f = {head, ...}, d = {name, ...}, t = {name, ...} }: the field heads to read
             ("orders|", "avg#s|", ...), the percentile and the topK aggregates
    ARGV[2..] group keys
  Output: per group, in order, { {value or nil per head}, {bucket, n, ...} per d, {member, n, ...} per t }
]]
local hash = KEYS[1]
local spec = cjson.decode(ARGV[1])
local heads = spec.f
local dds = spec.d
local tops = spec.t
local out = {}
for a = 2, #ARGV do
  local group = ARGV[a]
  local row = {}
  if #heads > 0 then
    local fields = {}
    for i, head in ipairs(heads) do fields[i] = head .. group end
    row[1] = redis.call('HMGET', hash, unpack(fields))
  else
    row[1] = {}
  end
  local k = 1
  for _, name in ipairs(dds) do
    k = k + 1
    row[k] = kf_dd_flat(hash, name, group)
  end
  for _, name in ipairs(tops) do
    k = k + 1
    row[k] = redis.call('ZRANGE', hash .. ':top:' .. name .. '|' .. group, 0, -1, 'WITHSCORES')
  end
  out[a - 1] = row
end
return out
