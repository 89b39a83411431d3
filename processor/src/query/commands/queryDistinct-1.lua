--[[
  Distinct counts of HyperLogLogs from several partitions (so from several Redis Cluster slots): the
  raw strings come as arguments, go to temporary keys under ONE hash tag (KEYS[1]'s), are counted
  together with PFCOUNT (which merges them exactly as PFMERGE would) and deleted, all in one call.

  Input:
    KEYS[1]  a fresh temporary key name; the temporary keys share its hash tag
    ARGV     per count: the number of parts, then the raw strings
  Output: { count, ... }
]]
local base = KEYS[1]
local out = {}
local a = 1
while a <= #ARGV do
  local parts = tonumber(ARGV[a])
  local names = {}
  for j = 1, parts do
    names[j] = base .. ':' .. j
    redis.call('SET', names[j], ARGV[a + j], 'PX', 60000)
  end
  out[#out + 1] = redis.call('PFCOUNT', unpack(names))
  redis.call('DEL', unpack(names))
  a = a + parts + 1
end
return out
