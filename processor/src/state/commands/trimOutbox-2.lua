--[[
  Drops the head of a partition's sink outbox up to a sequence number. Every window queued in the
  outbox has a sequence number: its place in the list plus the count of entries trimmed before it
  (KEYS[2]), so the numbers stay put while the head is trimmed. The exactly-once sink records in
  Kafka the sequence number it published up to; trimming to a number is idempotent and never goes
  back, so a zombie owner trimming late, or twice, cannot drop an entry that was not published.

  Input:
    KEYS[1] the outbox list
    KEYS[2] the count of entries trimmed so far (the sequence number of the list's head)
    ARGV[1] the sequence number of the first entry to keep
  Output:
    the sequence number of the list's head afterwards
]]
local trimmed = tonumber(redis.call('GET', KEYS[2]) or '0')
local upTo = tonumber(ARGV[1])
if upTo <= trimmed then return trimmed end
local length = redis.call('LLEN', KEYS[1])
local drop = math.min(upTo - trimmed, length)
redis.call('LTRIM', KEYS[1], drop, -1)
redis.call('SET', KEYS[2], trimmed + drop)
return trimmed + drop
