--[[
  Takes ownership of one partition for a new writer: bumps the owner epoch and returns the
  checkpoint to resume from. Any writer still holding an older epoch (a zombie that lost the
  partition in a rebalance) is fenced from then on: commitBatch refuses its writes.

  Input:
    KEYS[1] the partition's checkpoint hash
  Output:
    { epoch, nextOffset or false, watermark or false }
]]
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local state = redis.call('HMGET', KEYS[1], 'offset', 'watermark')
return { epoch, state[1], state[2] }
