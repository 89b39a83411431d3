--[[
  Read-only. The raw HyperLogLog strings of the given groups of one window of one partition (called
  through the Buffer variant: they are binary).

  Input:
    KEYS[1]  the window hash, kf:{p:v:n}:w:<start>; the sketch keys share its hash tag
    ARGV[1]  JSON list of countDistinct aggregate names
    ARGV[2..] group keys
  Output: group-major, two entries per group and aggregate: the raw string of the sketch key and
          that of the packed field (see prelude.lua), each or nil
]]
local hash = KEYS[1]
local names = cjson.decode(ARGV[1])
local out = {}
local n = 0
for a = 2, #ARGV do
  for _, name in ipairs(names) do
    out[n + 1] = redis.call('GET', hash .. ':hll:' .. name .. '|' .. ARGV[a]) or false
    out[n + 2] = redis.call('HGET', hash, name .. '#h|' .. ARGV[a]) or false
    n = n + 2
  end
end
return out
